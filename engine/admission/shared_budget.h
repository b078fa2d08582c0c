// SharedBudget: the seam through which Admission enforces its limits across
// several instances (engine/shared/ implements it on Redis). Admission keeps
// its local ledger for the scope tree and this instance's own view; a shared
// budget is asked too, after the local ledger admitted, and the request goes
// only when both agree. Without one, Admission behaves as it always has.
//
// Thread-safety: Admission calls every member under its own mutex, one call at
// a time; implementations may run their own threads but must not call back
// into Admission.
#pragma once

#include "admission/ledger.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

class SharedBudget {
public:
    virtual ~SharedBudget() = default;

    // The scope tree as Admission builds it; ids are the local ledger's.
    virtual void scopeAdded(ScopeId id, ScopeId parent, const std::string& name,
                            const std::vector<LimitSpec>& limits) = 0;
    virtual void limitsChanged(ScopeId id, const std::vector<LimitSpec>& limits) = 0;
    virtual void scopeRemoved(ScopeId id) = 0;

    // All or nothing across instances, after the local ledger admitted. Admit
    // sets `tag` (kept in the Hold, handed back to settle). A Wait always
    // carries a time: releases by other instances wake nobody here, so a
    // concurrency wait is a short poll, never waitsForRelease. `margins`:
    // the arrival margins the local ledger has in force on the path, for the
    // shared debits to be spaced the same way.
    virtual Check admit(const Path& path, const Cost& cost, TimePoint now, const Ledger::Margins& margins,
                        std::uint64_t& tag) = 0;
    // The request used `actual` (cancel: all zero). Never blocks on the network.
    virtual void settle(const Hold& hold, const Cost& actual, TimePoint now) = 0;
    // The request left at leftAt, later than it was admitted (hold.at): a
    // provider counting a window counts it then, so the requests after it
    // should keep their spacing from then (Ledger::departed). Never blocks
    // on the network. Default: nothing.
    virtual void departed(const Hold& hold, TimePoint leftAt)
    {
        (void)hold;
        (void)leftAt;
    }

    // What the local ledger now holds about a scope's enforcement, just after
    // a rate-limit 429 taught it something (`what`): the instances sharing
    // the budget enforce it too, so one instance's 429 narrows everyone's
    // next admissions, and it relaxes on the ledger's quiet-period rule.
    // Called on every such 429 (each restarts the quiet period). Default:
    // nothing is shared.
    enum class Learning : std::uint8_t { Widened, NearMiss, Paced };
    virtual void learned(ScopeId scope, const Ledger::LearnedDims& dims, Learning what, TimePoint now)
    {
        (void)scope;
        (void)dims;
        (void)what;
        (void)now;
    }
};

}  // namespace sluice
