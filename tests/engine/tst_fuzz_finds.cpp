// What the fuzz targets found (docs/fuzzing.md), as plain tests that also run
// in the release build: each input once crashed or was undefined behaviour.
#include "core/json_source.h"
#include "core/timefmt.h"
#include "providers/protocol.h"
#include "providers/rate_limit_headers.h"

#include <QtTest>

using namespace sluice;

class TestFuzzFinds : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // A number beyond a double's range escaped as nlohmann's out_of_range
    // and ended sluice-cli with std::terminate; it is an input error naming
    // where the number is.
    void hugeNumberIsAnInputError()
    {
        try {
            const JsonSource src("config.json", "{\n  \"retry\": {\"max_attempts\": 51111E1111}\n}");
            QFAIL("accepted");
        } catch (const InputError& e) {
            const QString what = QString::fromUtf8(e.what());
            QVERIFY2(what.startsWith(QStringLiteral("config.json:2:29: invalid JSON: number overflow")), e.what());
        }
    }

    // A stream chunk whose id, model or type is not a string, or whose
    // message is not an object, threw through libcurl's write callback.
    void streamMembersOfTheWrongTypeAreIgnored()
    {
        StreamAccumulator openai(ApiFlavor::OpenAI);
        QVERIFY(openai.feed("data: {\"id\":5,\"model\":{},\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"));
        QVERIFY(openai.sawFirstToken());
        QVERIFY(openai.feed("data: [DONE]\n\n"));
        QVERIFY(openai.complete());

        StreamAccumulator anthropic(ApiFlavor::Anthropic);
        QVERIFY(anthropic.feed("event: message_start\ndata: {\"type\":\"message_start\",\"message\":\"oops\"}\n\n"));
        QVERIFY(anthropic.feed("event: message_start\ndata: [1,2]\n\n"));
        QVERIFY(anthropic.feed("event: x\ndata: {\"type\":7,\"delta\":[]}\n\n"));
        QVERIFY(anthropic.feed("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":\"t\"}\n\n"));
        QVERIFY(!anthropic.malformed());
    }

    // Dates the 64-bit nanosecond clock cannot hold overflowed it (UB).
    void datesOutsideTheClocksRangeAreRejected()
    {
        QVERIFY(!parseRfc3339("4187-10-21T07:28:00Z"));
        QVERIFY(!parseHttpDate("Wed, 21 Oct 1013 07:28:00 GMT"));
        QVERIFY(parseRfc3339("2200-01-01T00:00:00Z"));
        QVERIFY(parseHttpDate("Wed, 21 Oct 2026 07:28:00 GMT"));
        http::HeaderMap h{{"retry-after", "Wed, 21 Oct 4187 07:28:00 GMT"},
                          {"anthropic-ratelimit-requests-reset", "9999-01-01T00:00:00Z"}};
        const RateLimitHeaders r = parseRateLimitHeaders(h, WallTime(std::chrono::seconds(1'790'000'000)));
        QVERIFY(!r.retryAfter);
        QVERIFY(!r.requests.timeToFull);
    }
};

QTEST_GUILESS_MAIN(TestFuzzFinds)
#include "tst_fuzz_finds.moc"
