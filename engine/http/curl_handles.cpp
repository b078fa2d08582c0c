#include "http/curl_handles.h"

#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>

namespace sluice::http {

void curlGlobalInit()
{
    static std::once_flag once;
    std::call_once(once, [] {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            throw std::runtime_error("libcurl failed to initialise");
        }
    });
}

EasyHandle makeEasy()
{
    curlGlobalInit();
    EasyHandle h(curl_easy_init());
    if (!h) {
        throw std::bad_alloc();
    }
    return h;
}

MultiHandle makeMulti()
{
    curlGlobalInit();
    MultiHandle h(curl_multi_init());
    if (!h) {
        throw std::bad_alloc();
    }
    return h;
}

HeaderList::~HeaderList()
{
    wipe();
}

void HeaderList::append(const std::string& line)
{
    curl_slist* next = curl_slist_append(m_list.get(), line.c_str());
    if (next == nullptr) {
        throw std::bad_alloc();
    }
    m_list.release();
    m_list.reset(next);
}

void HeaderList::appendSecret(const char* line)
{
    curl_slist* next = curl_slist_append(m_list.get(), line);
    if (next == nullptr) {
        throw std::bad_alloc();
    }
    m_list.release();
    m_list.reset(next);
}

void HeaderList::wipe() noexcept
{
    // Header values may hold API keys; zero libcurl's copies before freeing.
    for (curl_slist* p = m_list.get(); p != nullptr; p = p->next) {
        volatile char* c = p->data;
        for (std::size_t i = 0, n = std::strlen(p->data); i < n; ++i) {
            c[i] = 0;
        }
    }
}

}  // namespace sluice::http
