#include "store/job_store_rows.h"

#include "core/timefmt.h"

namespace sluice::store::rows {

using std::chrono::milliseconds;

std::int64_t toMs(WallTime t)
{
    return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

WallTime fromMs(std::int64_t ms)
{
    return WallTime(milliseconds(ms));
}

std::optional<WallTime> optionalFromMs(const std::optional<std::int64_t>& ms)
{
    return ms ? std::optional<WallTime>(fromMs(*ms)) : std::nullopt;
}

std::optional<std::int64_t> optionalToMs(const std::optional<WallTime>& t)
{
    return t ? std::optional<std::int64_t>(toMs(*t)) : std::nullopt;
}

const std::string kJobColumns =
    "id, custom_id, method, url, body, original_body IS NOT NULL, model, provider, tenant, priority, "
    "deadline_ms, created_ms, state, not_before_ms, lease_owner, lease_expiry_ms, lease_count, attempts, "
    "finished_ms, last_error_class, last_key_label";

const std::string kSelectJobById = "SELECT " + kJobColumns + " FROM jobs WHERE id = ?1";

Job readJob(const Statement& s)
{
    Job j;
    j.id = s.int64(0);
    j.customId = s.text(1);
    j.method = s.text(2);
    j.url = s.text(3);
    j.body = s.text(4);
    j.edited = s.int64(5) != 0;
    j.model = s.text(6);
    j.providerHint = s.text(7);
    j.tenant = s.text(8);
    j.priority = s.int32(9);
    j.deadline = optionalFromMs(s.optionalInt64(10));
    j.created = fromMs(s.int64(11));
    j.state = static_cast<JobState>(s.int32(12));
    j.notBefore = fromMs(s.int64(13));
    j.leaseOwner = s.text(14);
    j.leaseExpiry = optionalFromMs(s.optionalInt64(15));
    j.leaseCount = s.int32(16);
    j.attempts = s.int32(17);
    j.finished = optionalFromMs(s.optionalInt64(18));
    j.lastErrorClass = s.text(19);
    j.lastKeyLabel = s.text(20);
    return j;
}

void bindFilter(Statement& s, const DeadLetterFilter& f, std::optional<JobId> only)
{
    s.bind(2, f.errorClass)
        .bind(3, f.keyLabel)
        .bind(4, f.model)
        .bind(5, optionalToMs(f.diedFrom))
        .bind(6, optionalToMs(f.diedTo))
        .bind(7, only);
}

std::string attemptText(const Attempt& a)
{
    std::string s = a.errorClass;
    if (a.httpStatus != 0) {
        s += ", HTTP " + std::to_string(a.httpStatus);
    }
    if (!a.keyLabel.empty()) {
        s += ", key " + a.keyLabel;
    }
    if (!a.message.empty()) {
        s += ": " + a.message;
    }
    if (!a.counted) {
        s += " (not counted)";
    }
    if (a.retryAt) {
        s += "; retry at " + formatRfc3339(*a.retryAt, 3);
    }
    return s;
}

}  // namespace sluice::store::rows
