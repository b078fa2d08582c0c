#include "http/curl_handles.h"

#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>
#include <utility>

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

HeaderList::HeaderList(HeaderList&& other) noexcept
    : m_list(std::move(other.m_list)), m_shared(std::move(other.m_shared)), m_last(std::exchange(other.m_last, nullptr))
{
}

HeaderList& HeaderList::operator=(HeaderList&& other) noexcept
{
    if (this != &other) {
        release();
        m_list = std::move(other.m_list);
        m_shared = std::move(other.m_shared);
        m_last = std::exchange(other.m_last, nullptr);
    }
    return *this;
}

HeaderList::~HeaderList()
{
    release();
}

void HeaderList::add(const char* line)
{
    if (m_shared) {
        throw std::logic_error("HeaderList: a line appended after link()");
    }
    curl_slist* next = curl_slist_append(m_list.get(), line);
    if (next == nullptr) {
        throw std::bad_alloc();
    }
    m_list.release();
    m_list.reset(next);
}

void HeaderList::append(const std::string& line)
{
    add(line.c_str());
}

void HeaderList::appendSecret(const char* line)
{
    add(line);
}

void HeaderList::link(std::shared_ptr<const HeaderList> shared)
{
    if (!shared || shared->get() == nullptr || m_shared) {
        return;
    }
    if (m_list) {
        m_last = m_list.get();
        while (m_last->next != nullptr) {
            m_last = m_last->next;
        }
        m_last->next = shared->get();
    }
    m_shared = std::move(shared);
}

void HeaderList::release() noexcept
{
    // Header values may hold API keys; zero libcurl's copies before freeing.
    // The shared lines after m_last are another list's, left as they are.
    const curl_slist* stop = m_last != nullptr ? m_last->next : nullptr;
    for (curl_slist* p = m_list.get(); p != nullptr && p != stop; p = p->next) {
        volatile char* c = p->data;
        for (std::size_t i = 0, n = std::strlen(p->data); i < n; ++i) {
            c[i] = 0;
        }
    }
    if (m_last != nullptr) {
        m_last->next = nullptr;
        m_last = nullptr;
    }
    m_list.reset();
    m_shared.reset();
}

}  // namespace sluice::http
