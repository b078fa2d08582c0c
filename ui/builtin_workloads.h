// The example workloads of resources/workloads, compiled into the console
// as Qt resources (":/workloads/"), so the load-test panel offers them from
// a fresh build and from an installed app alike, with no path to find.
//
// Thread-safety: builtInWorkloads() reads resources (memory) and may run on
// any thread; the loader returned by builtInLoader() is meant for a worker
// thread: it writes the examples to a temporary directory for the time of
// the load, since a replay workload reads its recorded file by path.
#pragma once

#include "loadtest/workload.h"

#include <QString>

#include <functional>
#include <vector>

namespace sluice::ui {

struct BuiltInWorkload {
    QString file;     // "content-generator.json"
    QString name;     // the workload's "name", or the file's
    QString comment;  // its "comment", for a tooltip
};

std::vector<BuiltInWorkload> builtInWorkloads();

// Loads the built-in `file`; throws InputError as loadWorkloadFile does.
std::function<loadtest::Workload()> builtInLoader(const QString& file);

}  // namespace sluice::ui
