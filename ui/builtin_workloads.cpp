#include "builtin_workloads.h"

#include "core/json_source.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>

#include <nlohmann/json.hpp>

namespace sluice::ui {

namespace {

const QString kPrefix = QStringLiteral(":/workloads/");

QByteArray readResource(const QString& path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
        return {};
    }
    return f.readAll();
}

}  // namespace

std::vector<BuiltInWorkload> builtInWorkloads()
{
    std::vector<BuiltInWorkload> out;
    const QStringList files = QDir(kPrefix).entryList({QStringLiteral("*.json")}, QDir::Files, QDir::Name);
    for (const QString& file : files) {
        BuiltInWorkload w{file, file, {}};
        const QByteArray text = readResource(kPrefix + file);
        const auto doc = nlohmann::json::parse(text.constBegin(), text.constEnd(), nullptr, false);
        if (doc.is_object()) {
            w.name = QString::fromStdString(doc.value("name", file.toStdString()));
            w.comment = QString::fromStdString(doc.value("comment", std::string()));
        }
        out.push_back(std::move(w));
    }
    return out;
}

std::function<loadtest::Workload()> builtInLoader(const QString& file)
{
    return [file] {
        QTemporaryDir dir;
        if (!dir.isValid()) {
            throw InputError(file.toStdString() + ": cannot make a temporary directory for the built-in workload: " +
                             dir.errorString().toStdString());
        }
        // Every example goes: a replay names its recorded file relative to
        // the workload. The entries are read into memory by the load, so the
        // directory may go when it returns.
        const QStringList all = QDir(kPrefix).entryList(QDir::Files);
        for (const QString& name : all) {
            if (!QFile::copy(kPrefix + name, dir.filePath(name))) {
                throw InputError(file.toStdString() + ": cannot write " + dir.filePath(name).toStdString());
            }
        }
        const QByteArray text = readResource(kPrefix + file);
        if (text.isEmpty()) {
            throw InputError(file.toStdString() + ": no such built-in workload");
        }
        return loadtest::loadWorkload(JsonSource(file.toStdString() + " (built in)", text.toStdString()),
                                      dir.path().toStdString());
    };
}

}  // namespace sluice::ui
