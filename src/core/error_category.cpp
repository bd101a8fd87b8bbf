// core/error_category.cpp — declare_category(): one category class for all of mcpd's.
#include "core/error_category.hpp"

#include <mutex>

namespace mcpd {

namespace {

// boost::system::error_category has a protected, non-virtual destructor by design (categories
// are never deleted through a base pointer); GCC's -Wnon-virtual-dtor flags every derived class.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class declared_category final : public boost::system::error_category {
public:
    declared_category(char const* name, error_messages messages)
        : name_(name)
        , messages_(messages) {}
    [[nodiscard]] char const* name() const noexcept override { return name_; }
    [[nodiscard]] std::string message(int ev) const override {
        auto text = messages_(ev);
        if (text.empty())
            return "unknown " + std::string(name_) + " error " + std::to_string(ev);
        return text;
    }

private:
    char const* name_;
    error_messages messages_;
};
#pragma GCC diagnostic pop

struct registry {
    std::mutex lock;
    std::vector<std::string> names;
};

registry& declared() {
    static auto* const r = new registry(); // never destroyed, like the categories
    return *r;
}

} // namespace

boost::system::error_category const& declare_category(char const* name, error_messages messages) {
    auto& r = declared();
    {
        std::lock_guard<std::mutex> hold(r.lock);
        r.names.emplace_back(name);
    }
    return *new declared_category(name, messages);
}

std::vector<std::string> declared_category_names() {
    auto& r = declared();
    std::lock_guard<std::mutex> hold(r.lock);
    return r.names;
}

} // namespace mcpd
