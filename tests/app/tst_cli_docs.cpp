// The generated documentation: roff escaping on its own, the manual pages
// and bash completion that the real sluice-cli writes from its CLI11 app
// (--help-man, --help-completion), and sluice-md2man on a Markdown sample.
#include "doc/roff.h"

#include <QtTest>

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>

namespace {

constexpr int kRunMs = 60'000;

struct Run {
    int exitCode = -1;
    QString out;
    QString err;
};

Run run(const QString& program, const QStringList& args)
{
    QProcess p;
    p.start(program, args);
    Run r;
    if (!p.waitForFinished(kRunMs)) {
        r.err = QStringLiteral("did not finish");
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

QString cli()
{
    return QStringLiteral(SLUICE_CLI_PATH);
}

QString readText(const QString& path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()) : QString();
}

// The subcommands and options `--help` prints, as a user sees them.
QStringList helpWords(const QString& help, const QString& pattern)
{
    QStringList out;
    const QRegularExpression re(pattern, QRegularExpression::MultilineOption);
    for (auto it = re.globalMatch(help); it.hasNext();) {
        out << it.next().captured(1);
    }
    out.removeDuplicates();
    return out;
}

}  // namespace

class TestCliDocs : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void roffText_data();
    void roffText();
    void optionNameUsesMinusSigns();
    void pagesCoverEverySubcommandAndOption();
    void unwritableDirectoryFailsNamingIt();
    void completionOffersSubcommandsAndChoices();
    void markdownBecomesSectionFivePage();
};

void TestCliDocs::roffText_data()
{
    QTest::addColumn<QString>("input");
    QTest::addColumn<QString>("expected");
    QTest::newRow("plain") << QStringLiteral("a file") << QStringLiteral("a file");
    QTest::newRow("backslash") << QStringLiteral("C:\\dir") << QStringLiteral("C:\\edir");
    QTest::newRow("leading dot is not a request") << QStringLiteral(".config") << QStringLiteral("\\&.config");
    QTest::newRow("leading quote") << QStringLiteral("'x'") << QStringLiteral("\\&'x'");
    QTest::newRow("dot on a later line") << QStringLiteral("a\n.b") << QStringLiteral("a\n\\&.b");
    QTest::newRow("leading blanks dropped") << QStringLiteral("   text") << QStringLiteral("text");
    QTest::newRow("em dash") << QStringLiteral("a \u2014 b") << QStringLiteral("a \\(em b");
    QTest::newRow("arrow and times") << QStringLiteral("a \u2192 b \u00d7 2") << QStringLiteral("a \\(-> b \\(mu 2");
}

void TestCliDocs::roffText()
{
    QFETCH(QString, input);
    QFETCH(QString, expected);
    QCOMPARE(QString::fromStdString(sluice::doc::roffText(input.toStdString())), expected);
}

void TestCliDocs::optionNameUsesMinusSigns()
{
    QCOMPARE(QString::fromStdString(sluice::doc::optionName("--config")), QStringLiteral("\\fB\\-\\-config\\fR"));
    QCOMPARE(QString::fromStdString(sluice::doc::pageRef("sluice-cli", 1)),
             QStringLiteral("\\fB\\%sluice-cli\\fR(1)"));
}

void TestCliDocs::pagesCoverEverySubcommandAndOption()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const Run man = run(cli(), {QStringLiteral("--help-man"), dir.path()});
    QCOMPARE(man.exitCode, 0);
    QVERIFY2(man.out.isEmpty() && man.err.isEmpty(), qPrintable(man.out + man.err));

    const Run help = run(cli(), {QStringLiteral("--help")});
    QCOMPARE(help.exitCode, 0);
    const QString subcommandsPart = help.out.mid(help.out.indexOf(QStringLiteral("Subcommands:")));
    const QStringList subcommands = helpWords(subcommandsPart, QStringLiteral("^  ([a-z][a-z0-9-]*)\\b"));
    QVERIFY2(subcommands.contains(QStringLiteral("batch")), qPrintable(help.out));
    QVERIFY(!help.out.contains(QStringLiteral("--help-man")));  // hidden

    const QString mainPage = readText(dir.filePath(QStringLiteral("sluice-cli.1")));
    QVERIFY(mainPage.startsWith(QStringLiteral(".TH \"SLUICE-CLI\" \"1\"")));
    QVERIFY(!mainPage.contains(QStringLiteral("help\\-man")));
    QCOMPARE(QDir(dir.path()).entryList(QDir::Files).size(), subcommands.size() + 1);
    for (const QString& sub : subcommands) {
        QVERIFY2(mainPage.contains(QStringLiteral("\\fB%1\\fR").arg(sub)), qPrintable(sub));
        const QString page = readText(dir.filePath(QStringLiteral("sluice-cli-%1.1").arg(sub)));
        QVERIFY2(!page.isEmpty(), qPrintable(sub));
        QVERIFY(page.contains(QStringLiteral("sluice-cli-%1 \\- ").arg(sub)));  // the whatis line
        const Run subHelp = run(cli(), {sub, QStringLiteral("--help")});
        QCOMPARE(subHelp.exitCode, 0);
        for (const QString& opt : helpWords(subHelp.out, QStringLiteral("^\\s+(?:-\\w, )?(--[a-z0-9][a-z0-9-]*)"))) {
            QString roff = opt;
            roff.replace(QStringLiteral("-"), QStringLiteral("\\-"));
            QVERIFY2(page.contains(QStringLiteral("\\fB") + roff + QStringLiteral("\\fR")),
                     qPrintable(sub + QStringLiteral(": ") + opt));
        }
    }
}

void TestCliDocs::unwritableDirectoryFailsNamingIt()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString missing = dir.filePath(QStringLiteral("no/such/dir"));
    const Run man = run(cli(), {QStringLiteral("--help-man"), missing});
    QCOMPARE(man.exitCode, 1);
    QVERIFY2(man.err.contains(missing + QStringLiteral("/sluice-cli.1")), qPrintable(man.err));
    QVERIFY(!QFileInfo::exists(missing));
}

void TestCliDocs::completionOffersSubcommandsAndChoices()
{
    const Run completion = run(cli(), {QStringLiteral("--help-completion")});
    QCOMPARE(completion.exitCode, 0);
    QVERIFY(completion.out.contains(QStringLiteral("complete -o filenames -F _sluice_cli sluice-cli")));
    const QRegularExpression subcommandCase(QStringLiteral("^\\s+([a-z|-]+)\\) cmd="), QRegularExpression::MultilineOption);
    const QStringList cased = subcommandCase.match(completion.out).captured(1).split(QLatin1Char('|'));
    for (const QString& sub : {QStringLiteral("batch"), QStringLiteral("mock"), QStringLiteral("report"),
                               QStringLiteral("loadtest"), QStringLiteral("demo")}) {
        QVERIFY2(cased.contains(sub), qPrintable(sub));
    }
    // report --by takes one of a fixed set: completion offers exactly those.
    QVERIFY2(completion.out.contains(QStringLiteral("compgen -W 'key model provider hour day'")),
             qPrintable(completion.out));
}

void TestCliDocs::markdownBecomesSectionFivePage()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString input = dir.filePath(QStringLiteral("in.md"));
    QFile f(input);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("# Title\n\nIntro with `code` and a [link](http://x).\n\n## Fields\n\n"
            "| field | type | meaning |\n|---|---|---|\n| `rpm` | number | requests per minute |\n\n"
            "```json\n{\"a\": 1}\n.dot\n```\n\n- one item\n\n## Skipped\n\nnot here\n");
    f.close();
    const QString output = dir.filePath(QStringLiteral("out.5"));
    const Run md = run(QStringLiteral(SLUICE_MD2MAN_PATH), {input, output, QStringLiteral("sluice-test"), QStringLiteral("5"),
                                                            QStringLiteral("a test page"), QStringLiteral("9.9"),
                                                            QStringLiteral("Fields")});
    QVERIFY2(md.exitCode == 0, qPrintable(md.err));
    const QString page = readText(output);
    QVERIFY(page.startsWith(QStringLiteral(".TH \"SLUICE-TEST\" \"5\" \"\" \"Sluice 9.9\"")));
    QVERIFY(page.contains(QStringLiteral("sluice-test \\- a test page")));
    QVERIFY(page.contains(QStringLiteral("Intro with \\fBcode\\fR and a link.")));
    QVERIFY(page.contains(QStringLiteral(".SH \"FIELDS\"")));
    QVERIFY(page.contains(QStringLiteral(".TP\n\\fBrpm\\fR\n\\fItype\\fR: number\n.br\n\\fImeaning\\fR: requests per minute")));
    QVERIFY(page.contains(QStringLiteral(".nf\n{\"a\": 1}\n\\&.dot\n.fi")));
    QVERIFY(page.contains(QStringLiteral(".IP \\(bu 2\none item")));
    QVERIFY(!page.contains(QStringLiteral("not here")));

    const Run bad = run(QStringLiteral(SLUICE_MD2MAN_PATH), {dir.filePath(QStringLiteral("none.md")), output,
                                                             QStringLiteral("x"), QStringLiteral("5"), QStringLiteral("y"),
                                                             QStringLiteral("1")});
    QCOMPARE(bad.exitCode, 1);
    QVERIFY(bad.err.contains(QStringLiteral("none.md: cannot read")));
}

QTEST_APPLESS_MAIN(TestCliDocs)
#include "tst_cli_docs.moc"
