#include "key_vault.h"

#include <qt6keychain/keychain.h>


namespace sluice::ui {

namespace {

const QString kProbeEntry = QStringLiteral("sluice-keychain-probe");

bool backendMissing(QKeychain::Error e)
{
    return e == QKeychain::NoBackendAvailable || e == QKeychain::NotImplemented || e == QKeychain::OtherError;
}

}  // namespace

KeyVault::KeyVault(QObject* parent) : QObject(parent) {}

QString KeyVault::serviceName()
{
    return QStringLiteral("Sluice");
}

void KeyVault::probe()
{
    if (m_probing || m_availability != Availability::Unknown) {
        return;
    }
    m_probing = true;
    auto* job = new QKeychain::ReadPasswordJob(serviceName(), this);
    job->setAutoDelete(true);
    job->setKey(kProbeEntry);
    connect(job, &QKeychain::Job::finished, this, [this](QKeychain::Job* j) {
        m_probing = false;
        // A missing entry means the service answered: it is there.
        if (j->error() == QKeychain::NoError || j->error() == QKeychain::EntryNotFound) {
            m_availability = Availability::Available;
            m_reason.clear();
        } else {
            m_availability = Availability::Unavailable;
            m_reason = backendMissing(j->error())
                           ? tr("No keychain service is running (%1).").arg(j->errorString())
                           : tr("The keychain refused access (%1).").arg(j->errorString());
        }
        Q_EMIT availabilityKnown();
    });
    job->start();
}

void KeyVault::read(const QString& entry, QObject* context, ReadDone done)
{
    auto* job = new QKeychain::ReadPasswordJob(serviceName(), this);
    job->setAutoDelete(true);
    job->setKey(entry);
    connect(job, &QKeychain::Job::finished, context, [done = std::move(done), job](QKeychain::Job*) {
        if (job->error() == QKeychain::NoError) {
            done(job->textData(), {});
        } else {
            done(std::nullopt, job->errorString());
        }
    });
    job->start();
}

void KeyVault::write(const QString& entry, const QString& secret, QObject* context, WriteDone done)
{
    auto* job = new QKeychain::WritePasswordJob(serviceName(), this);
    job->setAutoDelete(true);
    job->setKey(entry);
    job->setTextData(secret);
    connect(job, &QKeychain::Job::finished, context, [done = std::move(done)](QKeychain::Job* j) {
        done(j->error() == QKeychain::NoError, j->errorString());
    });
    job->start();
}

void KeyVault::remove(const QString& entry)
{
    auto* job = new QKeychain::DeletePasswordJob(serviceName(), this);
    job->setAutoDelete(true);
    job->setKey(entry);
    job->start();
}

}  // namespace sluice::ui
