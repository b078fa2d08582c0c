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

// A header list. append() copies the text into libcurl's own memory, which
// libcurl frees without wiping; secrets are appended through
// appendSecretHeader, which wipes libcurl's copy before freeing it.
class HeaderList {
public:
    HeaderList() = default;
    HeaderList(HeaderList&&) noexcept = default;
    HeaderList& operator=(HeaderList&&) noexcept = default;
    HeaderList(const HeaderList&) = delete;
    HeaderList& operator=(const HeaderList&) = delete;
    ~HeaderList();

    void append(const std::string& line);
    // `line` must be NUL-terminated (a std::string's data()).
    void appendSecret(const char* line);
    curl_slist* get() const noexcept { return m_list.get(); }

private:
    void wipe() noexcept;
    std::unique_ptr<curl_slist, SlistDeleter> m_list;
};

}  // namespace sluice::http
