// tests/fuzz/fuzz_driver.cpp — a stand-in for libFuzzer where clang's is not available; linked
// with any of the fuzz targets here (run_fuzz.sh builds it with the project compiler).
//
// Calls LLVMFuzzerTestOneInput on every seed file given, then on pseudo-random inputs: seeds
// mutated (bit flips, dictionary tokens inserted, ranges deleted, duplicated or spliced from
// another seed) and inputs generated from dictionary tokens. The tokens come from a libFuzzer
// dictionary (-dict=). The generator has a fixed seed, so a failure reproduces; the run stops
// after -runs inputs or -seconds, whichever comes first. A crash is left to the sanitizers
// (build with -fsanitize=address,undefined); the exit code is non-zero then, and the input is
// written to crash-input in the working directory for replay (from the sanitizers' death
// callback, or a SIGABRT handler for the harness's own checks).
//
// Usage: <target>_fuzz [-runs=N] [-seconds=S] [-seed=N] [-dict=FILE] <seed file or dir>...
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size);

namespace {

// Provided by the sanitizer runtimes when linked in; null otherwise.
extern "C" void __sanitizer_set_death_callback(void (*callback)()) __attribute__((weak));

// The input being run, written to crash-input if the process dies on it.
std::string const* g_current = nullptr;

void dump_current_input() {
    if (g_current == nullptr)
        return;
    int const fd = ::open("crash-input", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return;
    std::size_t off = 0;
    while (off < g_current->size()) {
        ssize_t const n = ::write(fd, g_current->data() + off, g_current->size() - off);
        if (n <= 0)
            break;
        off += static_cast<std::size_t>(n);
    }
    ::close(fd);
    static char const note[] = "fuzz driver: failing input written to crash-input\n";
    [[maybe_unused]] auto ignored = ::write(2, note, sizeof note - 1);
}

extern "C" void on_abort(int) {
    dump_current_input();
    std::signal(SIGABRT, SIG_DFL);
    std::abort();
}

void run_one(std::string const& input) {
    g_current = &input;
    LLVMFuzzerTestOneInput(reinterpret_cast<std::uint8_t const*>(input.data()), input.size());
    g_current = nullptr;
}

std::vector<std::string> load_seeds(std::vector<std::string> const& paths) {
    std::vector<std::string> seeds;
    auto load = [&](std::filesystem::path const& p) {
        std::ifstream in(p, std::ios::binary);
        seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    };
    for (auto const& path : paths) {
        if (std::filesystem::is_directory(path)) {
            for (auto const& entry : std::filesystem::directory_iterator(path))
                if (entry.is_regular_file())
                    load(entry.path());
        } else {
            load(path);
        }
    }
    return seeds;
}

// Reads a libFuzzer dictionary: one `name="value"` or `"value"` a line, with \\, \" and \xNN
// escapes; # starts a comment. Lines it cannot read are skipped.
std::vector<std::string> load_dictionary(std::string const& path) {
    std::vector<std::string> tokens;
    std::ifstream in(path);
    std::string line;
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    };
    while (std::getline(in, line)) {
        auto open = line.find('"');
        auto close = line.rfind('"');
        if (line.empty() || line[0] == '#' || open == std::string::npos || close <= open)
            continue;
        std::string token;
        bool ok = true;
        for (std::size_t i = open + 1; i < close && ok; ++i) {
            if (line[i] != '\\') {
                token += line[i];
            } else if (i + 1 < close && (line[i + 1] == '\\' || line[i + 1] == '"')) {
                token += line[++i];
            } else if (i + 3 < close && line[i + 1] == 'x' && hex(line[i + 2]) >= 0 &&
                       hex(line[i + 3]) >= 0) {
                token += static_cast<char>(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                i += 3;
            } else {
                ok = false;
            }
        }
        if (ok && !token.empty())
            tokens.push_back(std::move(token));
    }
    return tokens;
}

class generator {
public:
    generator(std::uint64_t seed, std::vector<std::string> tokens)
        : rng_(seed)
        , tokens_(std::move(tokens)) {}

    std::size_t below(std::size_t n) { return n == 0 ? 0 : rng_() % n; }

    // A dictionary token, or one random byte when there is no dictionary.
    std::string token() {
        if (tokens_.empty())
            return std::string(1, static_cast<char>(below(256)));
        return tokens_[below(tokens_.size())];
    }

    // A run of tokens: mostly well-formed pieces with some noise.
    std::string fresh() {
        std::string s(1, static_cast<char>(below(256))); // byte 0: the feeding mode
        std::size_t const pieces = 1 + below(40);
        for (std::size_t i = 0; i < pieces; ++i) {
            if (below(8) == 0)
                s += static_cast<char>(below(256));
            else
                s += token();
        }
        return s;
    }

    std::string mutate(std::string s, std::vector<std::string> const& seeds) {
        std::size_t const steps = 1 + below(4);
        for (std::size_t i = 0; i < steps; ++i) {
            std::size_t const at = below(s.size() + 1);
            switch (below(7)) {
            case 0: // flip a bit
                if (!s.empty())
                    s[below(s.size())] ^= static_cast<char>(1u << below(8));
                break;
            case 1: // random byte
                s.insert(at, 1, static_cast<char>(below(256)));
                break;
            case 2: // dictionary token
                s.insert(at, token());
                break;
            case 3: // delete a range
                if (at < s.size())
                    s.erase(at, 1 + below(std::min<std::size_t>(16, s.size() - at)));
                break;
            case 4: // duplicate a range
                if (at < s.size())
                    s.insert(at, s.substr(at, 1 + below(32)));
                break;
            case 5: // splice in part of another seed
                if (!seeds.empty()) {
                    std::string const& other = seeds[below(seeds.size())];
                    std::size_t const from = below(other.size() + 1);
                    s.insert(at, other.substr(from, below(64)));
                }
                break;
            default: // new feeding mode
                if (!s.empty())
                    s[0] = static_cast<char>(below(256));
                break;
            }
        }
        if (s.size() > 8192)
            s.resize(8192);
        return s;
    }

private:
    std::mt19937_64 rng_;
    std::vector<std::string> tokens_;
};

bool option(std::string_view arg, std::string_view name, std::uint64_t& out) {
    if (!arg.starts_with(name))
        return false;
    out = std::strtoull(std::string(arg.substr(name.size())).c_str(), nullptr, 10);
    return true;
}

bool option(std::string_view arg, std::string_view name, std::string& out) {
    if (!arg.starts_with(name))
        return false;
    out = std::string(arg.substr(name.size()));
    return true;
}

} // namespace

int main(int argc, char** argv) {
    std::uint64_t runs = 200000;
    std::uint64_t seconds = 20;
    std::uint64_t seed = 0x5eed;
    std::string dictionary;
    std::vector<std::string> paths;
    for (int i = 1; i < argc; ++i) {
        std::string_view const arg = argv[i];
        if (!option(arg, "-runs=", runs) && !option(arg, "-seconds=", seconds) &&
            !option(arg, "-seed=", seed) && !option(arg, "-dict=", dictionary))
            paths.emplace_back(arg);
    }

    if (__sanitizer_set_death_callback != nullptr)
        __sanitizer_set_death_callback(dump_current_input);
    std::signal(SIGABRT, on_abort);

    std::vector<std::string> const seeds = load_seeds(paths);
    for (auto const& s : seeds)
        run_one(s);

    generator gen(seed,
                  dictionary.empty() ? std::vector<std::string>{} : load_dictionary(dictionary));
    auto const start = std::chrono::steady_clock::now();
    auto const deadline = start + std::chrono::seconds(seconds);
    std::uint64_t done = 0;
    while (done < runs) {
        if (done % 256 == 0 && std::chrono::steady_clock::now() >= deadline)
            break;
        if (seeds.empty() || gen.below(4) == 0)
            run_one(gen.fresh());
        else
            run_one(gen.mutate(seeds[gen.below(seeds.size())], seeds));
        ++done;
    }

    double const elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s: %zu seeds, %llu generated inputs in %.1f s (%.0f/s), no crash\n", argv[0],
                seeds.size(), static_cast<unsigned long long>(done), elapsed,
                elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0);
    return 0;
}
