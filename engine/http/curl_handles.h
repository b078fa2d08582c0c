// Move-only owners of libcurl's C handles, so no path leaks or double-frees
// one. curlGlobalInit() is called by anything that creates a handle.
//
// Thread-safety: a handle belongs to one thread at a time (libcurl's rule).
#pragma once

#include <curl/curl.h>

#include <memory>
#include <string>

namespace sluice::http {

// libcurl's process-wide initialisation, done once, never undone: it must
// precede every other call and libcurl ≥ 7.84 makes it thread-safe.
void curlGlobalInit();

struct EasyDeleter {
    void operator()(CURL* h) const noexcept { curl_easy_cleanup(h); }
};
struct MultiDeleter {
    void operator()(CURLM* h) const noexcept { curl_multi_cleanup(h); }
};
struct SlistDeleter {
    void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};

using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;
using MultiHandle = std::unique_ptr<CURLM, MultiDeleter>;

EasyHandle makeEasy();
MultiHandle makeMulti();

// A header list. append() copies the text into libcurl's own memory; the
// list's own lines are wiped before they are freed (they may hold a key).
// A list can end in a shared one (link()): libcurl reads one chain, so the
// headers many requests have in common are built once and linked in rather
// than copied into every request's list.
class HeaderList {
public:
    HeaderList() = default;
    HeaderList(HeaderList&& other) noexcept;
    HeaderList& operator=(HeaderList&& other) noexcept;
    HeaderList(const HeaderList&) = delete;
    HeaderList& operator=(const HeaderList&) = delete;
    ~HeaderList();

    // Throws std::logic_error after link(): the line would land in the
    // shared list.
    void append(const std::string& line);
    // `line` must be NUL-terminated (a std::string's data()).
    void appendSecret(const char* line);
    // Sends `shared`'s lines after this list's own; the last call on a list.
    // `shared` is kept alive and never changed or wiped through this list.
    void link(std::shared_ptr<const HeaderList> shared);
    curl_slist* get() const noexcept { return m_list ? m_list.get() : m_shared ? m_shared->get() : nullptr; }

private:
    void add(const char* line);
    void release() noexcept;  // wipes and frees the own lines, unlinks the shared ones
    std::unique_ptr<curl_slist, SlistDeleter> m_list;
    std::shared_ptr<const HeaderList> m_shared;
    curl_slist* m_last = nullptr;  // the own list's last node, linked to m_shared
};

}  // namespace sluice::http
