// KeyVault: API keys in the system keychain (Secret Service, KWallet,
// macOS Keychain, Windows Credential Store) through QtKeychain, never in
// QSettings, the workspace file or a log. Every operation is an
// asynchronous QtKeychain job: the GUI never waits for the keychain, which
// may be asking the user to unlock it.
//
// Where no keychain service runs (a headless machine, a desktop without
// Secret Service), probe() finds out and says so; the console then offers
// the environment-variable route instead.
//
// Thread-safety: GUI thread only.
#pragma once

#include <QObject>
#include <QString>

#include <functional>
#include <optional>

namespace sluice::ui {

class KeyVault : public QObject {
    Q_OBJECT

public:
    enum class Availability : std::uint8_t { Unknown, Available, Unavailable };

    explicit KeyVault(QObject* parent = nullptr);

    // Finds out whether a keychain service answers; availabilityKnown
    // follows. Idempotent.
    void probe();
    Availability availability() const { return m_availability; }
    // Why not, in words for the user, when Unavailable.
    QString unavailableReason() const { return m_reason; }

    // `done` gets the value, or nullopt and the reason. `context` ends the
    // callback's life with its own.
    using ReadDone = std::function<void(std::optional<QString> value, const QString& error)>;
    using WriteDone = std::function<void(bool ok, const QString& error)>;
    void read(const QString& entry, QObject* context, ReadDone done);
    void write(const QString& entry, const QString& secret, QObject* context, WriteDone done);
    void remove(const QString& entry);

    static QString serviceName();

Q_SIGNALS:
    void availabilityKnown();

private:
    Availability m_availability = Availability::Unknown;
    QString m_reason;
    bool m_probing = false;
};

}  // namespace sluice::ui
