// server/server.cpp — the registry of tools, resources and prompts. See server.hpp.
#include "mcpd/server/server.hpp"

#include "server/registry.hpp"

#include "core/hex.hpp"
#include "core/random.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <span>
#include <stdexcept>

namespace mcpd::server {

namespace json = boost::json;

tool_result tool_result::text(std::string text, bool is_error) {
    tool_result r;
    r.content.push_back(text_content(text));
    r.is_error = is_error;
    return r;
}

json::object text_content(std::string_view text) {
    return json::object{{"type", "text"}, {"text", text}};
}

json::object image_content(std::string_view base64, std::string_view mime_type) {
    return json::object{{"type", "image"}, {"data", base64}, {"mimeType", mime_type}};
}

json::object audio_content(std::string_view base64, std::string_view mime_type) {
    return json::object{{"type", "audio"}, {"data", base64}, {"mimeType", mime_type}};
}

json::object embedded_text_resource(std::string_view uri, std::string_view mime_type,
                                    std::string_view text) {
    return json::object{
        {"type", "resource"},
        {"resource", json::object{{"uri", uri}, {"mimeType", mime_type}, {"text", text}}}};
}

json::object resource_link(std::string_view uri, std::string_view name, std::string_view mime_type,
                           std::string_view description) {
    json::object o{{"type", "resource_link"}, {"uri", uri}, {"name", name}};
    if (!mime_type.empty())
        o["mimeType"] = mime_type;
    if (!description.empty())
        o["description"] = description;
    return o;
}

json::object prompt_message(std::string_view role, json::object content) {
    return json::object{{"role", role}, {"content", std::move(content)}};
}

std::optional<std::map<std::string, std::string>> match_uri_template(std::string_view tmpl,
                                                                     std::string_view uri) {
    std::map<std::string, std::string> vars;
    while (!tmpl.empty()) {
        auto open = tmpl.find('{');
        auto literal = tmpl.substr(0, open);
        if (uri.substr(0, literal.size()) != literal)
            return std::nullopt;
        uri.remove_prefix(literal.size());
        if (open == std::string_view::npos)
            return uri.empty() ? std::optional(vars) : std::nullopt;
        auto close = tmpl.find('}', open);
        if (close == std::string_view::npos)
            return std::nullopt;
        std::string name(tmpl.substr(open + 1, close - open - 1));
        tmpl.remove_prefix(close + 1);
        // The variable runs to the next literal text (or the end); it never spans a '/'.
        auto next_open = tmpl.find('{');
        auto next_literal = tmpl.substr(0, next_open);
        std::size_t end = next_literal.empty() ? uri.find('/') : uri.find(next_literal);
        if (end == std::string_view::npos)
            end = next_literal.empty() ? uri.size() : std::string_view::npos;
        if (end == std::string_view::npos || end == 0)
            return std::nullopt;
        auto value = uri.substr(0, end);
        if (value.find('/') != std::string_view::npos)
            return std::nullopt;
        vars[name] = std::string(value);
        uri.remove_prefix(end);
    }
    return uri.empty() ? std::optional(vars) : std::nullopt;
}

namespace {

void check_tool_name(std::string const& name) {
    bool ok =
        !name.empty() && name.size() <= 128 && std::all_of(name.begin(), name.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '-' || c == '.';
        });
    if (!ok)
        throw std::invalid_argument("tool name \"" + name +
                                    "\": use 1 to 128 characters of A-Z a-z 0-9 _ - .");
}

// A lock key template may only use arguments the tool declares (when it declares any).
void check_guards(tool const& t) {
    if (!t.guards.locked)
        return;
    auto fields = guard::key_template_fields(t.guards.locked->key_template);
    if (!fields)
        throw std::invalid_argument("tool \"" + t.name + "\": " + fields.error().detail);
    auto const* props = t.input_schema.if_contains("properties");
    if (props == nullptr || !props->is_object())
        return;
    for (auto const& f : *fields)
        if (!props->get_object().contains(f))
            throw std::invalid_argument("tool \"" + t.name + "\": the lock key \"" +
                                        t.guards.locked->key_template + "\" uses \"" + f +
                                        "\", which is not one of its arguments");
}

} // namespace

server::server(server_options opts)
    : reg_(std::make_unique<registry>()) {
    if (opts.state_key.empty()) {
        fill_random(std::as_writable_bytes(std::span(reg_->state_key)));
    } else {
        auto bytes = from_hex(opts.state_key);
        if (!bytes || bytes->size() != reg_->state_key.size())
            throw std::invalid_argument("state_key: expected 64 hex characters");
        std::copy(bytes->begin(), bytes->end(), reg_->state_key.begin());
    }
    reg_->opts = std::move(opts);
}

std::string server::registry::seal_state(json::object const& state) const {
    auto text = json::serialize(state);
    return hmac_hex(text) + "." + text;
}

std::optional<json::object> server::registry::open_state(std::string_view sealed) const {
    auto dot = sealed.find('.');
    if (dot == std::string_view::npos)
        return std::nullopt;
    auto mac = sealed.substr(0, dot);
    auto text = sealed.substr(dot + 1);
    auto expected = hmac_hex(text);
    if (mac.size() != expected.size() ||
        CRYPTO_memcmp(mac.data(), expected.data(), expected.size()) != 0)
        return std::nullopt;
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object())
        return std::nullopt;
    return std::move(v.get_object());
}

std::string server::registry::hmac_hex(std::string_view text) const {
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int len = 0;
    HMAC(EVP_sha256(), state_key.data(), static_cast<int>(state_key.size()),
         reinterpret_cast<unsigned char const*>(text.data()), text.size(), mac.data(), &len);
    return to_hex(std::span<std::uint8_t const>(mac.data(), len));
}

server::~server() = default;

server_options const& server::options() const noexcept {
    return reg_->opts;
}

void server::add_tool(tool t, tool_handler h) {
    check_tool_name(t.name);
    auto const* type = t.input_schema.if_contains("type");
    if (type == nullptr || !type->is_string() || type->get_string() != "object")
        throw std::invalid_argument(
            "tool \"" + t.name +
            "\": input_schema must be a JSON Schema with \"type\": \"object\"");
    if (!h)
        throw std::invalid_argument("tool \"" + t.name + "\": no handler");
    check_guards(t);
    auto key = t.name; // copied: t is moved from in the same call
    reg_->upsert(reg_->tools, key, registry::tool_entry{std::move(t), std::move(h)});
    reg_->changed("notifications/tools/list_changed");
}

bool server::set_tool_guards(std::string_view name, guard::tool_guards g) {
    auto* entry = reg_->tools.find(name);
    if (entry == nullptr)
        return false;
    auto def = entry->def;
    def.guards = std::move(g);
    check_guards(def);
    entry->def.guards = std::move(def.guards);
    return true;
}

void server::set_guards(std::shared_ptr<guard::guard_set> g) {
    reg_->opts.guards = std::move(g);
}

guard::guard_set& server::guards() {
    if (!reg_->opts.guards)
        reg_->opts.guards = guard::guard_set::in_process();
    return *reg_->opts.guards;
}

bool server::remove_tool(std::string_view name) {
    bool removed = reg_->erase(reg_->tools, name);
    if (removed)
        reg_->changed("notifications/tools/list_changed");
    return removed;
}

void server::add_resource(resource r, resource_handler h) {
    if (r.uri.empty() || r.name.empty() || !h)
        throw std::invalid_argument("resource needs a uri, a name and a handler");
    auto key = r.uri;
    reg_->upsert(reg_->resources, key, registry::resource_entry{std::move(r), std::move(h)});
    reg_->changed("notifications/resources/list_changed");
}

bool server::remove_resource(std::string_view uri) {
    bool removed = reg_->erase(reg_->resources, uri);
    if (removed)
        reg_->changed("notifications/resources/list_changed");
    return removed;
}

void server::add_resource_template(resource_template t, template_handler h) {
    if (t.uri_template.empty() || t.name.empty() || !h)
        throw std::invalid_argument("resource template needs a uriTemplate, a name and a handler");
    auto key = t.uri_template;
    reg_->upsert(reg_->templates, key, registry::template_entry{std::move(t), std::move(h)});
    reg_->changed("notifications/resources/list_changed");
}

void server::add_prompt(prompt p, prompt_handler h) {
    if (p.name.empty() || !h)
        throw std::invalid_argument("prompt needs a name and a handler");
    auto key = p.name;
    reg_->upsert(reg_->prompts, key, registry::prompt_entry{std::move(p), std::move(h)});
    reg_->changed("notifications/prompts/list_changed");
}

bool server::remove_prompt(std::string_view name) {
    bool removed = reg_->erase(reg_->prompts, name);
    if (removed)
        reg_->changed("notifications/prompts/list_changed");
    return removed;
}

void server::set_completion_handler(completion_handler h) {
    reg_->complete = std::move(h);
}

void server::resource_updated(std::string_view uri) {
    if (reg_->on_resource_updated)
        reg_->on_resource_updated(uri);
}

} // namespace mcpd::server
