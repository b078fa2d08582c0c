// The tokenizer against its reference: every text of the corpus
// (tests/data/tokenize/corpus) encodes to exactly the ids js-tiktoken gives
// (tests/data/tokenize/expected.json, regenerated and checked live by the
// tokenize_reference test), under o200k_base and cl100k_base; chat requests
// count as OpenAI's cookbook counts them; rank files are checked and loaded
// lazily; model names pick the right encoding.
#include "tokenize/bpe_encoding.h"
#include "tokenize/chat_tokens.h"
#include "tokenize/count_memo.h"
#include "tokenize/encodings.h"
#include "tokenize/resource_dir.h"
#include "tokenize/split_pattern.h"

#include <nlohmann/json.hpp>

#include <QtTest>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <thread>

using namespace sluice::tokenize;
using nlohmann::json;

namespace {

const std::filesystem::path kData = std::filesystem::path(SLUICE_SOURCE_DIR) / "tests/data/tokenize";
const std::filesystem::path kRanks = std::filesystem::path(SLUICE_SOURCE_DIR) / "resources/tokenizers";

std::string readFile(const std::filesystem::path& p)
{
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

QString ids(const std::vector<std::uint32_t>& v)
{
    QStringList parts;
    for (const auto id : v) {
        parts << QString::number(id);
    }
    return parts.join(QLatin1Char(' '));
}

}  // namespace

class TestTokenize : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void corpusExact_data();
    void corpusExact();
    void chatCounts_data();
    void chatCounts();
    void liveRandom();
    void concurrentEncodes();
    void modelEncoding_data();
    void modelEncoding();
    void lazyLoadAndMissingFiles();
    void badRankFiles_data();
    void badRankFiles();
    void jsWhitespaceRewrite();
    void asciiMatcherAgreesWithTheRegex();
    void sanitizeLikeTextDecoder_data();
    void sanitizeLikeTextDecoder();
    void resourceDirOverride();
    void countMemoRemembersAndForgets();
    void countsRememberedAreExact();

private:
    std::unique_ptr<Encodings> m_encodings;
    json m_expected;
};

void TestTokenize::initTestCase()
{
    m_encodings = std::make_unique<Encodings>(kRanks);
    QVERIFY2(m_encodings->get(EncodingId::O200kBase), m_encodings->loadError(EncodingId::O200kBase).c_str());
    QVERIFY2(m_encodings->get(EncodingId::Cl100kBase), m_encodings->loadError(EncodingId::Cl100kBase).c_str());
    QCOMPARE(m_encodings->get(EncodingId::O200kBase)->vocabularySize(), std::size_t{199998});
    QCOMPARE(m_encodings->get(EncodingId::Cl100kBase)->vocabularySize(), std::size_t{100256});
    m_expected = json::parse(readFile(kData / "expected.json"));
    QVERIFY(m_expected.contains("encodings"));
}

void TestTokenize::corpusExact_data()
{
    QTest::addColumn<QString>("encoding");
    QTest::addColumn<QString>("file");
    int rows = 0;
    for (const auto& [enc, files] : m_expected.at("encodings").items()) {
        for (const auto& [file, exp] : files.items()) {
            QTest::newRow((enc + "/" + file).c_str()) << QString::fromStdString(enc) << QString::fromStdString(file);
            ++rows;
        }
    }
    // Both encodings, every kind of text the issue names.
    QVERIFY(rows >= 2 * 14);
}

void TestTokenize::corpusExact()
{
    QFETCH(QString, encoding);
    QFETCH(QString, file);
    const BpeEncoding* enc =
        m_encodings->get(encoding == QLatin1String("o200k_base") ? EncodingId::O200kBase : EncodingId::Cl100kBase);
    QVERIFY(enc != nullptr);
    const std::string text = readFile(kData / "corpus" / file.toStdString());
    const json& exp = m_expected.at("encodings").at(encoding.toStdString()).at(file.toStdString());
    const auto expectedIds = exp.at("ids").get<std::vector<std::uint32_t>>();
    const auto got = enc->encode(text);
    QCOMPARE(ids(got), ids(expectedIds));
    QCOMPARE(enc->count(text), exp.at("count").get<std::size_t>());
    // Decoding gives back the text as read (ill-formed bytes as U+FFFD).
    QCOMPARE(enc->decode(got), sanitizeUtf8(text));
}

void TestTokenize::chatCounts_data()
{
    QTest::addColumn<QString>("model");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<qint64>("expected");
    const json cases = json::parse(readFile(kData / "chat.json"));
    for (const auto& c : cases) {
        const std::string name = c.at("name").get<std::string>();
        QTest::newRow(name.c_str()) << QString::fromStdString(c.at("model").get<std::string>())
                                    << QByteArray::fromStdString(c.at("body").dump())
                                    << qint64{m_expected.at("chat").at(name).get<std::int64_t>()};
    }
}

void TestTokenize::chatCounts()
{
    QFETCH(QString, model);
    QFETCH(QByteArray, body);
    QFETCH(qint64, expected);
    const auto n = countPromptTokens(*m_encodings, model.toStdString(), json::parse(body.toStdString()));
    QVERIFY(n.has_value());
    QCOMPARE(qint64{*n}, expected);
}

// Run by the tokenize_reference test with SLUICE_TOKENIZE_RANDOM naming a
// file js-tiktoken just wrote: random mixed-script strings and their ids.
void TestTokenize::liveRandom()
{
    const QByteArray path = qgetenv("SLUICE_TOKENIZE_RANDOM");
    if (path.isEmpty()) {
        QSKIP("SLUICE_TOKENIZE_RANDOM not set (the tokenize_reference test sets it)");
    }
    const json data = json::parse(readFile(path.toStdString()));
    std::size_t compared = 0;
    for (const auto& c : data.at("cases")) {
        const std::string text = c.at("text").get<std::string>();
        for (const auto& [name, exp] : c.at("ids").items()) {
            const BpeEncoding* enc =
                m_encodings->get(name == "o200k_base" ? EncodingId::O200kBase : EncodingId::Cl100kBase);
            const auto got = enc->encode(text);
            if (got != exp.get<std::vector<std::uint32_t>>()) {
                QFAIL(qPrintable(QStringLiteral("%1 differs on %2: got [%3], js-tiktoken [%4]")
                                     .arg(QString::fromStdString(name), QString::fromStdString(json(text).dump()),
                                          ids(got), ids(exp.get<std::vector<std::uint32_t>>()))));
            }
            ++compared;
        }
    }
    QVERIFY(compared > 0);
    qInfo("%zu encodings compared with %s", compared, data.at("reference").get<std::string>().c_str());
}

void TestTokenize::concurrentEncodes()
{
    // One encoding shared by four threads at once gives each the ids one
    // thread alone gets.
    const BpeEncoding* enc = m_encodings->get(EncodingId::O200kBase);
    std::vector<std::string> texts;
    for (const auto& f : {"english.txt", "japanese.txt", "code_cpp.txt", "long_runs.txt"}) {
        texts.push_back(readFile(kData / "corpus" / f));
    }
    std::vector<std::vector<std::uint32_t>> alone;
    for (const auto& t : texts) {
        alone.push_back(enc->encode(t));
    }
    std::vector<int> mismatches(4, 0);
    std::vector<std::thread> threads;
    for (int k = 0; k < 4; ++k) {
        threads.emplace_back([&, k] {
            for (int round = 0; round < 20; ++round) {
                for (std::size_t i = 0; i < texts.size(); ++i) {
                    mismatches[static_cast<std::size_t>(k)] += enc->encode(texts[i]) != alone[i] ? 1 : 0;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    QCOMPARE(std::accumulate(mismatches.begin(), mismatches.end(), 0), 0);
}

void TestTokenize::modelEncoding_data()
{
    QTest::addColumn<QString>("model");
    QTest::addColumn<QString>("encoding");
    const std::pair<const char*, const char*> rows[] = {
        {"gpt-4o", "o200k_base"}, {"gpt-4o-mini-2024-07-18", "o200k_base"}, {"chatgpt-4o-latest", "o200k_base"},
        {"gpt-4.1-nano", "o200k_base"}, {"gpt-4.5-preview", "o200k_base"}, {"gpt-5", "o200k_base"},
        {"gpt-5-mini-2025-08-07", "o200k_base"}, {"o1", "o200k_base"}, {"o1-preview", "o200k_base"},
        {"o3-mini", "o200k_base"}, {"o4-mini-2025-04-16", "o200k_base"}, {"gpt-oss-120b", "o200k_base"},
        {"ft:gpt-4o-mini:acme::abc123", "o200k_base"}, {"openai/gpt-4.1", "o200k_base"},
        {"gpt-4", "cl100k_base"}, {"gpt-4-0613", "cl100k_base"}, {"gpt-4-turbo-2024-04-09", "cl100k_base"},
        {"gpt-3.5-turbo", "cl100k_base"}, {"gpt-35-turbo", "cl100k_base"}, {"text-embedding-3-large", "cl100k_base"},
        {"text-embedding-ada-002", "cl100k_base"}, {"ft:gpt-3.5-turbo-0125:org::x", "cl100k_base"},
        {"claude-sonnet-4-5", ""}, {"gemini-2.5-pro", ""}, {"llama-3.1-70b", ""}, {"omni-moderation-latest", ""},
        {"o1x", ""}, {"", ""},
    };
    for (const auto& [model, enc] : rows) {
        QTest::newRow(*model ? model : "(empty)") << QString::fromLatin1(model) << QString::fromLatin1(enc);
    }
}

void TestTokenize::modelEncoding()
{
    QFETCH(QString, model);
    QFETCH(QString, encoding);
    const auto id = encodingForModel(model.toStdString());
    QCOMPARE(id ? QString::fromLatin1(encodingName(*id)) : QString(), encoding);
}

void TestTokenize::lazyLoadAndMissingFiles()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const Encodings empty(dir.path().toStdString());
    QVERIFY(empty.forModel("gpt-4o") == nullptr);
    const std::string err = empty.loadError(EncodingId::O200kBase);
    QVERIFY2(err.find("o200k_base.ranks: cannot open") != std::string::npos, err.c_str());
    // A model with no encoding never touches the files.
    const json body = {{"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
    QVERIFY(!countPromptTokens(empty, "claude-sonnet-4-5", body).has_value());
    QVERIFY(!countPromptTokens(empty, "gpt-4o", body).has_value());

    // Loaded once: the second get() returns the same object, even after the
    // file is gone.
    std::filesystem::copy_file(kRanks / "cl100k_base.ranks", std::filesystem::path(dir.path().toStdString()) / "cl100k_base.ranks");
    const Encodings some(dir.path().toStdString());
    const BpeEncoding* first = some.get(EncodingId::Cl100kBase);
    QVERIFY(first != nullptr);
    std::filesystem::remove(std::filesystem::path(dir.path().toStdString()) / "cl100k_base.ranks");
    QCOMPARE(some.get(EncodingId::Cl100kBase), first);
    QCOMPARE(QString::fromStdString(first->source()), QStringLiteral("js-tiktoken 1.0.21 (MIT)"));
    QVERIFY(some.loadError(EncodingId::Cl100kBase).empty());
}

void TestTokenize::badRankFiles_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QString>("error");
    std::string bytes;
    for (int b = 0; b < 256; ++b) {
        static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        // base64 of one byte: two characters and "==".
        bytes += alphabet[b >> 2];
        bytes += alphabet[(b & 3) << 4];
        bytes += "==\n";
    }
    const std::string head = "sluice-bpe-ranks 1\nname t\npattern \\p{L}+|\\p{N}+|\\s+|[^\\s\\p{L}\\p{N}]+\n";
    QTest::newRow("not a rank file") << QByteArray("IQ==\n") << QStringLiteral("bad.ranks:1: not a Sluice rank file");
    QTest::newRow("no count") << QByteArray::fromStdString(head) << QStringLiteral("bad.ranks:3: ends before its \"count\"");
    QTest::newRow("unknown record") << QByteArray::fromStdString(head + "colour blue\n")
                                    << QStringLiteral("bad.ranks:4: unknown record \"colour blue\"");
    QTest::newRow("truncated") << QByteArray::fromStdString(head + "count 257\n" + bytes)
                               << QStringLiteral("bad.ranks:260: ends after 256 of its 257 ranks");
    QTest::newRow("not base64") << QByteArray::fromStdString(head + "count 256\nIQ=\n" + bytes)
                                << QStringLiteral("bad.ranks:5: rank 0: not base64");
    QTest::newRow("repeated token") << QByteArray::fromStdString(head + "count 257\n" + bytes + "AA==\n")
                                    << QStringLiteral("bad.ranks: rank 256 repeats an earlier token");
    QTest::newRow("byte missing") << QByteArray::fromStdString(head + "count 256\n" + bytes.substr(0, bytes.size() - 5) + "YWI=\n")
                                  << QStringLiteral("bad.ranks: byte 255 has no token");
    QTest::newRow("bad pattern") << QByteArray::fromStdString("sluice-bpe-ranks 1\nname t\npattern (\\p{L}\ncount 256\n" + bytes)
                                 << QStringLiteral("bad.ranks: pattern: pattern offset");
    QTest::newRow("too many lines") << QByteArray::fromStdString(head + "count 256\n" + bytes + "YWI=\n")
                                    << QStringLiteral("bad.ranks:261: more lines than the 256 ranks");
    QTest::newRow("too many ranks") << QByteArray::fromStdString(head + "count 16777215\n" + bytes)
                                    << QStringLiteral("bad.ranks:4: expected \"count N\" with N from 256");
    QTest::newRow("well formed") << QByteArray::fromStdString(head + "count 256\n" + bytes) << QString();
}

void TestTokenize::badRankFiles()
{
    QFETCH(QByteArray, text);
    QFETCH(QString, error);
    try {
        const auto enc = BpeEncoding::parse(text.toStdString(), "bad.ranks");
        QVERIFY2(error.isEmpty(), "expected an error");
        // 256 single bytes and no merges: one token a byte.
        QCOMPARE(enc->count("héllo wörld"), std::size_t{13});
    } catch (const TokenizerError& e) {
        QVERIFY2(!error.isEmpty() && QString::fromUtf8(e.what()).startsWith(error), e.what());
    }
}

void TestTokenize::jsWhitespaceRewrite()
{
    // JavaScript's \s, not PCRE2's: U+FEFF is space, U+0085 is not.
    const SplitPattern p("\\s+|\\S+");
    std::vector<Piece> pieces;
    const std::string text = "a\xEF\xBB\xBF" "b\xC2\x85" "c\xE3\x80\x80" "d";
    p.split(text, pieces);
    QCOMPARE(pieces.size(), std::size_t{5});  // "a", BOM, "b\u0085c", ideographic space, "d"
    QCOMPARE(text.substr(pieces[2].offset, pieces[2].length), std::string("b\xC2\x85" "c"));
    QVERIFY_THROWS_EXCEPTION(TokenizerError, SplitPattern("[\\S]"));
    QVERIFY(SplitPattern::translate("[^\\s\\p{L}]\\s").find("\\p{Zs}\\p{L}]") != std::string::npos);
}

namespace {

std::string patternOf(const std::filesystem::path& rankFile)
{
    std::istringstream in(readFile(rankFile));
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("pattern ", 0) == 0) {
            return line.substr(8);
        }
    }
    return {};
}

std::vector<std::string> pieces(const SplitPattern& p, const std::string& text)
{
    std::vector<Piece> out;
    p.split(text, out);
    std::vector<std::string> v;
    for (const Piece& piece : out) {
        v.push_back(text.substr(piece.offset, piece.length));
    }
    return v;
}

}  // namespace

// The hand-written ASCII matcher cuts every text exactly where PCRE2 does:
// texts drawn from the characters each alternative turns on (capitals
// before small letters, contractions in any case, digit runs, a space before
// punctuation, '/' after a line break, runs of spaces before a word or the
// end, control characters) with letters, digits, spaces and punctuation
// from outside ASCII mixed in, where the matcher hands over to the regex.
void TestTokenize::asciiMatcherAgreesWithTheRegex()
{
    const std::vector<std::string> alphabet = {
        "a", "b", "s", "t", "e", "l", "d", "m", "r", "v", "A", "S", "T", "E", "L", "D", "Z", "0", "1", "9",
        " ", " ", " ", "\t", "\n", "\r", "\x0b", "\x0c", "'", "'", "/", ".", ",", "(", ")", "-", "!", "\"", "_",
        "\x01", "\x7f", "\xc3\xa9" /* é */, "\xc3\x89" /* É */, "\xe2\x80\x94" /* — */, "\xc2\xa0" /* NBSP */,
        "\xe2\x80\xa8" /* LS */, "\xc2\xb2" /* ² */, "\xe6\x97\xa5" /* 日 */, "\xcc\x81" /* combining acute */,
        "\xf0\x9f\x98\x80" /* emoji */, "\xd9\xa3" /* Arabic-Indic three */};
    // The alphabet lists its ASCII characters first.
    const auto asciiChoices = static_cast<std::size_t>(
        std::find_if(alphabet.begin(), alphabet.end(),
                     [](const std::string& c) { return static_cast<unsigned char>(c[0]) >= 0x80; }) -
        alphabet.begin());
    for (const char* file : {"o200k_base.ranks", "cl100k_base.ranks"}) {
        const std::string js = patternOf(kRanks / file);
        QVERIFY2(knownPattern(js) != KnownPattern::None, file);
        const SplitPattern fast(js);
        const SplitPattern regex(js, SplitPattern::Matcher::Regex);
        std::mt19937 rng(20261206);
        for (int n = 0; n < 30000; ++n) {
            std::string text;
            const auto length = std::uniform_int_distribution<int>(1, 24)(rng);
            // Half the texts are pure ASCII, where the matcher decides alone.
            const std::size_t choices = n % 2 == 0 ? asciiChoices : alphabet.size();
            for (int i = 0; i < length; ++i) {
                text += alphabet[std::uniform_int_distribution<std::size_t>(0, choices - 1)(rng)];
            }
            if (n % 2 == 0) {
                // ASCII alone: decided without the regex, from every offset
                // a match can start at (the first included).
                for (std::size_t at = 0; at < text.size();) {
                    const std::size_t len = asciiMatch(knownPattern(js), text, at);
                    if (len == 0) {
                        QFAIL(qPrintable(QStringLiteral("%1: %2 handed to the regex at %3")
                                             .arg(QLatin1String(file), QString::fromStdString(json(text).dump()))
                                             .arg(at)));
                    }
                    at += len;
                }
            }
            const auto want = pieces(regex, text);
            const auto got = pieces(fast, text);
            if (got != want) {
                QFAIL(qPrintable(QStringLiteral("%1: %2 cut into %3 pieces, the regex into %4")
                                     .arg(QLatin1String(file), QString::fromStdString(json(text).dump()))
                                     .arg(got.size())
                                     .arg(want.size())));
            }
        }
    }
    // A few by hand, as tiktoken cuts them.
    const SplitPattern o200k(patternOf(kRanks / "o200k_base.ranks"));
    QCOMPARE(pieces(o200k, "HELLOworld's DON'T  go;\n/x 1234"),
             (std::vector<std::string>{"HELLOworld's", " DON'T", " ", " go", ";\n/", "x", " ", "123", "4"}));
    const SplitPattern cl100k(patternOf(kRanks / "cl100k_base.ranks"));
    QCOMPARE(pieces(cl100k, "it'sa (ok)  \t\n"), (std::vector<std::string>{"it", "'s", "a", " (", "ok", ")", "  \t\n"}));
    QCOMPARE(knownPattern("\\s+|\\S+"), KnownPattern::None);
}

void TestTokenize::sanitizeLikeTextDecoder_data()
{
    QTest::addColumn<QByteArray>("in");
    QTest::addColumn<QByteArray>("out");
    const QByteArray r = "\xEF\xBF\xBD";
    QTest::newRow("valid") << QByteArray("h\xC3\xA9 \xF0\x9F\x98\x80") << QByteArray("h\xC3\xA9 \xF0\x9F\x98\x80");
    QTest::newRow("lone continuation") << QByteArray("a\x80" "b") << QByteArray("a" + r + "b");
    QTest::newRow("truncated at end") << QByteArray("a\xE3\x81") << QByteArray("a" + r);
    QTest::newRow("truncated mid") << QByteArray("\xE3\x81" "a") << QByteArray(r + "a");
    QTest::newRow("overlong") << QByteArray("\xC0\xAF") << QByteArray(r + r);
    QTest::newRow("surrogate") << QByteArray("\xED\xA0\x80") << QByteArray(r + r + r);
    QTest::newRow("above U+10FFFF") << QByteArray("\xF4\x90\x80\x80") << QByteArray(r + r + r + r);
}

void TestTokenize::sanitizeLikeTextDecoder()
{
    QFETCH(QByteArray, in);
    QFETCH(QByteArray, out);
    QCOMPARE(QByteArray::fromStdString(sanitizeUtf8(in.toStdString())), out);
    QCOMPARE(isValidUtf8(in.toStdString()), in == out);
}

void TestTokenize::resourceDirOverride()
{
    // From the build tree, share/sluice beside the program: a link to the
    // source tree's resources.
    qunsetenv("SLUICE_RESOURCES_DIR");
    QCOMPARE(QString::fromStdString(std::filesystem::canonical(tokenizerDir()).string()),
             QString::fromStdString(
                 std::filesystem::canonical(std::filesystem::path(SLUICE_SOURCE_DIR) / "resources/tokenizers").string()));
    qputenv("SLUICE_RESOURCES_DIR", "/opt/elsewhere");
    QCOMPARE(QString::fromStdString(tokenizerDir().string()), QStringLiteral("/opt/elsewhere/tokenizers"));
    qunsetenv("SLUICE_RESOURCES_DIR");
}

void TestTokenize::countMemoRemembersAndForgets()
{
    // 4 KB of capacity: generations of 2 KB; texts over 512 bytes are never kept.
    CountMemo memo(4096);
    int counted = 0;
    const auto count = [&counted](std::string_view t) {
        ++counted;
        return t.size();
    };
    // Kept the second time it is counted, found from the third.
    QCOMPARE(memo.countOr("alpha", count), std::size_t{5});
    QCOMPARE(memo.countOr("alpha", count), std::size_t{5});
    QCOMPARE(memo.stats().entries, std::size_t{1});
    QCOMPARE(memo.countOr("alpha", count), std::size_t{5});
    QCOMPARE(counted, 2);
    QCOMPARE(memo.stats().hits, std::uint64_t{1});
    QCOMPARE(memo.stats().misses, std::uint64_t{2});
    // Texts counted once take no room.
    for (int i = 0; i < 100; ++i) {
        memo.countOr("once " + std::to_string(i), count);
    }
    QCOMPARE(memo.stats().entries, std::size_t{1});

    const std::string big(600, 'x');
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(memo.countOr(big, count), std::size_t{600});
    }
    QCOMPARE(counted, 105);  // too long to keep

    // Fill well past the capacity: what is kept stays bounded, and "alpha",
    // used again meanwhile, moves with each turn of generations.
    for (int i = 0; i < 200; ++i) {
        memo.countOr("text number " + std::to_string(i), count);
        memo.countOr("text number " + std::to_string(i), count);
        if (i % 10 == 0) {
            QCOMPARE(memo.countOr("alpha", count), std::size_t{5});
        }
        QVERIFY2(memo.stats().bytes <= 4096, std::to_string(memo.stats().bytes).c_str());
    }
    const int before = counted;
    QCOMPARE(memo.countOr("alpha", count), std::size_t{5});
    QCOMPARE(counted, before);
    memo.countOr("text number 0", count);  // long since dropped
    QCOMPARE(counted, before + 1);
    QCOMPARE(memo.countOr("text number 199", count), std::size_t{15});  // still kept
    QCOMPARE(counted, before + 1);
}

void TestTokenize::countsRememberedAreExact()
{
    // The second count of a text comes from the memo and equals the first,
    // from several threads at once, for every corpus text.
    const BpeEncoding* enc = m_encodings->get(EncodingId::O200kBase);
    std::vector<std::string> texts;
    for (const auto& f : {"english.txt", "japanese.txt", "code_cpp.txt", "long_runs.txt"}) {
        texts.push_back(readFile(kData / "corpus" / f));
    }
    std::vector<std::size_t> exact;
    for (const auto& t : texts) {
        exact.push_back(enc->encode(t).size());
    }
    const auto hitsBefore = enc->countMemoStats().hits;
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int k = 0; k < 4; ++k) {
        threads.emplace_back([&] {
            for (int round = 0; round < 3; ++round) {
                for (std::size_t i = 0; i < texts.size(); ++i) {
                    wrong += enc->count(texts[i]) != exact[i] ? 1 : 0;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    QCOMPARE(wrong.load(), 0);
    // Each text is counted at most twice per thread before the memo has it.
    QVERIFY(enc->countMemoStats().hits >= hitsBefore + 4 * 3 * texts.size() - 2 * 4 * texts.size());
    QCOMPARE(enc->count(""), std::size_t{0});
}

QTEST_APPLESS_MAIN(TestTokenize)
#include "tst_tokenize.moc"
