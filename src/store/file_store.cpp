// store/file_store.cpp — the JSON file backend: locking, atomic replacement, expiry.
#include "store/file_store.hpp"

#include "core/json_finite.hpp"
#include "core/random.hpp"
#include "mcpd/store/error.hpp"
#include "mcpd/store/session.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mcpd::store {

namespace json = boost::json;
using boost::asio::awaitable;

namespace {

error system_error(std::string what) {
    return error(boost::system::error_code(errno, boost::system::system_category()),
                 std::move(what));
}

// An open file descriptor, closed on scope exit (which also drops an flock on it).
class fd_guard {
public:
    explicit fd_guard(int fd)
        : fd_(fd) {}
    ~fd_guard() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    fd_guard(fd_guard const&) = delete;
    fd_guard& operator=(fd_guard const&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }

private:
    int fd_;
};

result<json::array> load(std::string const& path) {
    fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT)
            return json::array();
        return system_error("open " + path);
    }
    std::string text;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return system_error("read " + path);
        }
        if (n == 0)
            break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    if (text.find_first_not_of(" \t\r\n") == std::string::npos)
        return json::array();
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec)
        return error(store_errc::corrupt_record, path + ": " + ec.message());
    if (!all_numbers_finite(v))
        return error(store_errc::corrupt_record, path + ": " + std::string(number_out_of_range));
    if (!v.is_array())
        return error(store_errc::corrupt_record, path + ": not a JSON array of sessions");
    for (auto const& r : v.get_array())
        if (!r.is_object())
            return error(store_errc::corrupt_record, path + ": an element is not an object");
    return std::move(v.get_array());
}

// Replaces `path` with `records`: temp file, fsync, rename, fsync of the directory. One record
// per line keeps the file readable; it is the same JSON array either way.
result<void> save(std::string const& path, json::array const& records) {
    std::string text = "[";
    for (std::size_t i = 0; i < records.size(); ++i) {
        text += i == 0 ? "\n  " : ",\n  ";
        text += json::serialize(records[i]);
    }
    text += records.empty() ? "]\n" : "\n]\n";

    // A name no one can guess, made by us alone (O_EXCL), and never a link someone left in the
    // directory (O_NOFOLLOW): in a shared directory a predictable name would let another user
    // point it at a file of theirs or ours.
    std::string tmp = path + ".tmp." + random_hex(16);
    {
        fd_guard fd(
            ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (fd.get() < 0)
            return system_error("create " + tmp);
        std::size_t done = 0;
        while (done < text.size()) {
            ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                auto e = system_error("write " + tmp);
                ::unlink(tmp.c_str());
                return e;
            }
            done += static_cast<std::size_t>(n);
        }
        if (::fsync(fd.get()) != 0) {
            auto e = system_error("fsync " + tmp);
            ::unlink(tmp.c_str());
            return e;
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        auto e = system_error("rename " + tmp + " to " + path);
        ::unlink(tmp.c_str());
        return e;
    }
    auto dir = std::filesystem::path(path).parent_path();
    fd_guard dfd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dfd.get() >= 0)
        ::fsync(dfd.get()); // the rename itself is durable
    return {};
}

bool is_live(json::object const& r, std::int64_t now) {
    auto const* exp = r.if_contains(file_store::expiry_field);
    if (!exp || !exp->is_number())
        return true; // written without an expiry (as Node writes them): never expires
    return exp->to_number<double>() > static_cast<double>(now);
}

// std::erase_if for json::array; returns how many were removed.
template <class Pred>
std::size_t erase_records_if(json::array& records, Pred pred) {
    auto keep_end = std::remove_if(records.begin(), records.end(), pred);
    auto removed = static_cast<std::size_t>(records.end() - keep_end);
    records.erase(keep_end, records.end());
    return removed;
}

bool matches(json::object const& r, std::string_view identity, std::string_view id) {
    return record_identity(r) == identity && record_session_id(r) == id;
}

// What callers see: the record without our bookkeeping field.
json::object public_view(json::object r) {
    r.erase(file_store::expiry_field);
    return r;
}

} // namespace

file_store::file_store(std::string path)
    : path_(std::move(path)) {}

file_store::~file_store() {
    pool_.join();
}

result<void> file_store::with_records(bool write, change_fn const& change) {
    std::string lock_path = path_ + ".lock";
    fd_guard lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (lock.get() < 0)
        return system_error("open " + lock_path);
    while (::flock(lock.get(), write ? LOCK_EX : LOCK_SH) != 0)
        if (errno != EINTR)
            return system_error("lock " + lock_path);
    auto records = load(path_);
    if (!records)
        return records.error();
    auto changed = change(*records);
    if (!changed)
        return changed.error();
    if (write && *changed)
        return save(path_, *records);
    return {};
}

awaitable<result<std::unique_ptr<file_store>>> file_store::open(std::string path) {
    std::unique_ptr<file_store> s(new file_store(std::move(path)));
    auto* raw = s.get();
    auto work = [raw]() -> result<void> {
        // Creates the file (an empty array) if missing, and proves it readable.
        return raw->with_records(true, [&](json::array&) -> result<bool> {
            struct stat st {};
            return ::stat(raw->path_.c_str(), &st) != 0; // write only when it does not exist
        });
    };
    auto opened = co_await raw->pool_.run(std::move(work));
    if (!opened)
        co_return opened.error();
    co_return std::move(s);
}

awaitable<result<void>> file_store::create_session(json::object record,
                                                   std::optional<duration> ttl) {
    if (auto ok = validate_record(record); !ok)
        co_return ok.error();
    if (record.contains(expiry_field))
        co_return error(store_errc::invalid_record, std::string(expiry_field) + " is reserved");
    auto work = [this, record = std::move(record), ttl]() mutable -> result<void> {
        return with_records(true, [&](json::array& records) -> result<bool> {
            auto now = unix_time_ms();
            erase_records_if(records,
                             [&](json::value const& r) { return !is_live(r.get_object(), now); });
            auto identity = record_identity(record);
            auto id = record_session_id(record);
            for (auto const& r : records)
                if (matches(r.get_object(), identity, id))
                    return error(store_errc::session_exists,
                                 std::string(identity) + ":" + std::string(id));
            record[expiry_field] = now + ttl.value_or(default_session_ttl).count();
            records.push_back(std::move(record));
            return true;
        });
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<result<void>> file_store::update_session(std::string identity, std::string session_id,
                                                   json::object partial,
                                                   std::optional<duration> ttl) {
    if (auto ok = validate_keys(identity, session_id); !ok)
        co_return ok.error();
    if (partial.contains(expiry_field))
        co_return error(store_errc::invalid_record, std::string(expiry_field) + " is reserved");
    auto work = [&, partial = std::move(partial)]() -> result<void> {
        return with_records(true, [&](json::array& records) -> result<bool> {
            auto now = unix_time_ms();
            for (auto& v : records) {
                auto& r = v.get_object();
                if (!matches(r, identity, session_id) || !is_live(r, now))
                    continue;
                json::object merged = r; // all or nothing: merge a copy
                if (auto ok = merge_into(merged, partial); !ok)
                    return ok.error();
                if (ttl)
                    merged[expiry_field] = now + ttl->count();
                r = std::move(merged);
                return true;
            }
            return error(store_errc::session_not_found, identity + ":" + session_id);
        });
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<result<std::optional<json::object>>> file_store::get_session(std::string identity,
                                                                       std::string session_id) {
    if (auto ok = validate_keys(identity, session_id); !ok)
        co_return ok.error();
    auto work = [&]() -> result<std::optional<json::object>> {
        std::optional<json::object> found;
        auto ok = with_records(false, [&](json::array& records) -> result<bool> {
            auto now = unix_time_ms();
            for (auto& v : records)
                if (matches(v.get_object(), identity, session_id) && is_live(v.get_object(), now))
                    found = public_view(std::move(v.get_object()));
            return false;
        });
        if (!ok)
            return ok.error();
        return found;
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<result<std::vector<session_record>>>
file_store::get_identity_sessions_data(std::string identity) {
    if (auto ok = validate_identity(identity); !ok)
        co_return ok.error();
    auto work = [&]() -> result<std::vector<session_record>> {
        std::vector<session_record> out;
        auto ok = with_records(false, [&](json::array& records) -> result<bool> {
            auto now = unix_time_ms();
            for (auto& v : records)
                if (record_identity(v.get_object()) == identity && is_live(v.get_object(), now))
                    out.emplace_back(public_view(std::move(v.get_object())));
            return false;
        });
        if (!ok)
            return ok.error();
        return out;
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<result<void>> file_store::remove_session(std::string identity, std::string session_id) {
    if (auto ok = validate_keys(identity, session_id); !ok)
        co_return ok.error();
    auto work = [&]() -> result<void> {
        return with_records(true, [&](json::array& records) -> result<bool> {
            auto removed = erase_records_if(records, [&](json::value const& r) {
                return matches(r.get_object(), identity, session_id);
            });
            return removed > 0;
        });
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<result<std::vector<std::string>>> file_store::get_all_session_ids() {
    auto work = [&]() -> result<std::vector<std::string>> {
        std::vector<std::string> out;
        auto ok = with_records(false, [&](json::array& records) -> result<bool> {
            auto now = unix_time_ms();
            for (auto const& v : records)
                if (is_live(v.get_object(), now))
                    out.push_back(std::string(record_identity(v.get_object())) + ":" +
                                  std::string(record_session_id(v.get_object())));
            return false;
        });
        if (!ok)
            return ok.error();
        std::sort(out.begin(), out.end());
        return out;
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<result<void>> file_store::clear_all() {
    auto work = [&]() -> result<void> {
        return with_records(true, [](json::array& records) -> result<bool> {
            records.clear();
            return true;
        });
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<result<std::size_t>> file_store::cleanup_expired_sessions() {
    auto work = [&]() -> result<std::size_t> {
        std::size_t removed = 0;
        auto ok = with_records(true, [&](json::array& records) -> result<bool> {
            auto now = unix_time_ms();
            removed = erase_records_if(
                records, [&](json::value const& r) { return !is_live(r.get_object(), now); });
            return removed > 0;
        });
        if (!ok)
            return ok.error();
        return removed;
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<result<void>> file_store::ping() {
    auto work = [&]() -> result<void> {
        return with_records(false, [](json::array&) -> result<bool> { return false; });
    };
    co_return co_await pool_.run(std::move(work));
}

awaitable<void> file_store::close() {
    auto work = [] {};
    co_await pool_.run(std::move(work));
}

} // namespace mcpd::store
