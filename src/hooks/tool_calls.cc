#include "hooks/tool_calls.h"

#include <boost/json.hpp>
#include <cctype>
#include <cstdlib>

#include "core/entity_ids.h"
#include "core/json.h"
#include "core/text.h"
#include "net/http_client.h"

namespace tether::hooks {

namespace json = boost::json;

namespace {

// $NAME and ${NAME} from the environment the tool will run with (the
// hook's own); false if one is unset.
bool ExpandVars(std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '$') {
      out += s[i];
      continue;
    }
    std::size_t start = i + 1;
    bool braced = start < s.size() && s[start] == '{';
    if (braced) ++start;
    std::size_t end = start;
    while (end < s.size() &&
           (std::isalnum(static_cast<unsigned char>(s[end])) || s[end] == '_'))
      ++end;
    if (end == start) return false;
    const char* v = std::getenv(s.substr(start, end - start).c_str());
    if (!v) return false;
    out += v;
    if (braced) {
      if (end >= s.size() || s[end] != '}') return false;
      ++end;
    }
    i = end - 1;
  }
  s = out;
  return true;
}

// The file paths an apply_patch input touches, in the patch's order.
json::array PatchFiles(std::string_view patch) {
  json::array files;
  std::size_t start = 0;
  while (start < patch.size()) {
    std::size_t end = patch.find('\n', start);
    if (end == std::string_view::npos) end = patch.size();
    std::string_view line = patch.substr(start, end - start);
    for (std::string_view marker : {"*** Add File: ", "*** Update File: ",
                                    "*** Delete File: ", "*** Move to: "}) {
      if (line.substr(0, marker.size()) == marker) {
        files.emplace_back(line.substr(marker.size()));
      }
    }
    start = end + 1;
  }
  return files;
}

// True if `word` uses a variable that `command` itself may set (NAME=,
// export, read, for): its value there is not the hook's.
bool AssignsAVariableIn(std::string_view command, std::string_view word) {
  for (std::size_t i = word.find('$'); i != std::string_view::npos;
       i = word.find('$', i + 1)) {
    std::size_t start = i + 1;
    if (start < word.size() && word[start] == '{') ++start;
    std::size_t end = start;
    while (end < word.size() &&
           (std::isalnum(static_cast<unsigned char>(word[end])) ||
            word[end] == '_')) {
      ++end;
    }
    std::string name(word.substr(start, end - start));
    if (name.empty()) return true;
    if (command.find(name + "=") != std::string_view::npos ||
        command.find("read ") != std::string_view::npos ||
        command.find("for " + name) != std::string_view::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string UrlHost(std::string_view url) {
  auto u = net::ParseHttpUrl(url);
  if (!u) return "";
  return AsciiLower(u->host);
}

// Shell words of a command line (quotes and backslashes as sh reads them),
// split into simple commands at ; & | && || and newlines. Enough to find a
// `git push` and its arguments; the proxy decides what is really pushed.
std::vector<std::vector<std::string>> SimpleCommands(std::string_view cmd) {
  std::vector<std::vector<std::string>> out(1);
  std::string word;
  bool in_word = false;
  auto flush = [&] {
    if (in_word) out.back().push_back(word);
    word.clear();
    in_word = false;
  };
  for (std::size_t i = 0; i < cmd.size(); ++i) {
    char c = cmd[i];
    if (c == '\'') {
      std::size_t end = cmd.find('\'', i + 1);
      if (end == std::string_view::npos) end = cmd.size();
      word += cmd.substr(i + 1, end - i - 1);
      in_word = true;
      i = end;
    } else if (c == '"') {
      in_word = true;
      for (++i; i < cmd.size() && cmd[i] != '"'; ++i) {
        if (cmd[i] == '\\' && i + 1 < cmd.size()) ++i;
        word += cmd[i];
      }
    } else if (c == '\\' && i + 1 < cmd.size()) {
      word += cmd[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      flush();
    } else if (c == ';' || c == '&' || c == '|' || c == '\n' || c == '(' ||
               c == ')') {
      flush();
      if (!out.back().empty()) out.emplace_back();
    } else {
      word += c;
      in_word = true;
    }
  }
  flush();
  if (out.back().empty()) out.pop_back();
  return out;
}

// The `git push` commands in a shell command line.
std::vector<GitPush> FindGitPushes(std::string_view command) {
  std::vector<GitPush> pushes;
  for (const auto& words : SimpleCommands(command)) {
    std::size_t i = 0;
    // NAME=value prefixes (NAME an identifier; the value may be anything).
    auto assignment = [](const std::string& w) {
      std::size_t eq = w.find('=');
      if (eq == 0 || eq == std::string::npos ||
          std::isdigit(static_cast<unsigned char>(w[0]))) {
        return false;
      }
      for (std::size_t k = 0; k < eq; ++k) {
        if (!std::isalnum(static_cast<unsigned char>(w[k])) && w[k] != '_')
          return false;
      }
      return true;
    };
    while (i < words.size() && assignment(words[i])) ++i;
    if (i < words.size() && (words[i] == "env" || words[i] == "command" ||
                             words[i] == "exec" || words[i] == "sudo")) {
      ++i;
    }
    if (i >= words.size()) continue;
    std::string prog = words[i];
    if (prog != "git" && prog.size() > 4 &&
        prog.compare(prog.size() - 4, 4, "/git") == 0) {
      prog = "git";
    }
    if (prog != "git") continue;
    ++i;
    // git's own options before the subcommand.
    while (i < words.size() && !words[i].empty() && words[i][0] == '-') {
      if (words[i] == "-C" || words[i] == "-c" || words[i] == "--git-dir" ||
          words[i] == "--work-tree" || words[i] == "--namespace") {
        ++i;
      }
      ++i;
    }
    if (i >= words.size() || words[i] != "push") continue;
    GitPush p;
    std::vector<std::string> positional;
    for (++i; i < words.size(); ++i) {
      const std::string& w = words[i];
      if (w == "--") continue;
      if (!w.empty() && w[0] == '-') {
        if (w == "-f" || w == "--force" ||
            w.rfind("--force-with-lease", 0) == 0)
          p.force = true;
        if (w == "-d" || w == "--delete") p.remove = true;
        if (w == "--all" || w == "--mirror" || w == "--tags" ||
            w == "--branches") {
          p.unknown_ref = true;
        }
        if (w == "-o" || w == "--push-option" || w == "--repo" ||
            w == "--receive-pack" || w == "--exec") {
          ++i;
        }
        continue;
      }
      positional.push_back(w);
    }
    if (!positional.empty()) p.remote = positional[0];
    if (positional.size() < 2) p.unknown_ref = true;
    for (std::size_t k = 1; k < positional.size(); ++k) {
      std::string spec = positional[k];
      if (!spec.empty() && spec[0] == '+') {
        p.force = true;
        spec.erase(0, 1);
      }
      std::size_t colon = spec.find(':');
      std::string dst =
          colon == std::string::npos ? spec : spec.substr(colon + 1);
      if (colon != std::string::npos && colon == 0) p.remove = true;
      if (AssignsAVariableIn(command, dst) || !ExpandVars(dst) || dst.empty() ||
          dst == "HEAD" || dst.find('*') != std::string::npos) {
        p.unknown_ref = true;
        continue;
      }
      if (dst.rfind("refs/", 0) != 0) dst = "refs/heads/" + dst;
      auto canonical = CanonicalRef(dst);
      if (!canonical) {
        p.unknown_ref = true;
        continue;
      }
      p.refs.push_back(*canonical);
    }
    pushes.push_back(std::move(p));
  }
  return pushes;
}

std::string JsonString(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : "";
}

Result<ToolCall> MapToolCall(const json::object& in, Agent agent) {
  ToolCall call;
  call.tool = JsonString(in, "tool_name");
  if (call.tool.empty() || call.tool.size() > 256) {
    return MakeError("invalid_input", "the hook input names no tool");
  }
  const json::value* iv = in.if_contains("tool_input");
  json::object input;
  if (iv && iv->is_object()) input = iv->get_object();
  json::object& ctx = call.context;
  ctx["tool"] = call.tool;
  ctx["agent"] = agent == Agent::kClaude ? "claude-code" : "codex";
  if (std::string s = JsonString(in, "session_id"); !s.empty())
    ctx["session"] = s;
  const std::string& t = call.tool;
  // What policy reads is never cut short: a call whose text is larger than
  // tether reads is refused (padding must not hide the part that matters).
  constexpr std::size_t kMaxText = 16 * 1024;
  auto too_long = [&](std::string_view what, std::size_t size) {
    return MakeError("invalid_input", std::string(what) +
                                          " is larger than tether reads (" +
                                          std::to_string(size) + " > 16 KiB)");
  };
  auto field = [&](std::string_view key, std::string& out) -> Status {
    out = JsonString(input, key);
    if (out.size() > kMaxText) return too_long(key, out.size());
    return {};
  };
  if (t == "Bash" || t == "exec_command" || t == "shell" ||
      t == "local_shell") {
    std::string command;
    const json::value* cv = input.if_contains("command");
    if (!cv) cv = input.if_contains("cmd");
    if (cv && cv->is_string()) {
      command = std::string(cv->get_string());
    } else if (cv && cv->is_array()) {
      // argv form (Codex's shell: ["bash", "-lc", "SCRIPT"]): a shell's
      // script is the command line; other argv, its words quoted.
      std::vector<std::string> argv;
      for (const json::value& w : cv->get_array()) {
        if (!w.is_string()) {
          return MakeError("invalid_input", "a command word is not a string");
        }
        argv.emplace_back(w.get_string());
      }
      auto shell = [](std::string p) {
        p = p.substr(p.rfind('/') == std::string::npos ? 0 : p.rfind('/') + 1);
        return p == "sh" || p == "bash" || p == "zsh" || p == "dash";
      };
      if (argv.size() >= 3 && shell(argv[0]) &&
          (argv[1] == "-c" || argv[1] == "-lc" || argv[1] == "-ic")) {
        command = argv[2];
      } else {
        for (const std::string& w : argv) {
          std::string q = "'";
          for (char ch : w)
            q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
          command += (command.empty() ? "" : " ") + q + "'";
        }
      }
    } else {
      return MakeError("invalid_input", "the shell call carries no command");
    }
    if (command.size() > kMaxText) return too_long("command", command.size());
    ctx["command"] = command;
    call.pushes = FindGitPushes(command);
    if (!call.pushes.empty()) {
      ctx["git_push"] = true;
      const GitPush& p = call.pushes.front();
      if (!p.remote.empty()) ctx["git_remote"] = p.remote;
      bool force = false, remove = false;
      for (const GitPush& q : call.pushes) {
        force = force || q.force;
        remove = remove || q.remove;
      }
      ctx["git_force"] = force;
      ctx["git_delete"] = remove;
      // A destination the hook cannot read (`git push`, --all, HEAD, a
      // glob, a $VAR the command may set): policy may refuse or ask; the
      // proxy sees what is really pushed.
      bool unknown = false;
      for (const GitPush& q : call.pushes) unknown = unknown || q.unknown_ref;
      ctx["git_ref_unknown"] = unknown;
    }
  } else if (t == "Read" || t == "Write" || t == "Edit" || t == "MultiEdit" ||
             t == "NotebookEdit" || t == "NotebookRead") {
    std::string file = JsonString(input, "file_path");
    if (file.empty()) file = JsonString(input, "notebook_path");
    ctx["file"] = file;
  } else if (t == "apply_patch") {
    std::string patch = JsonString(input, "command");
    if (patch.empty()) patch = JsonString(input, "input");
    json::array files = PatchFiles(patch);
    if (!files.empty()) ctx["file"] = files.front();
    ctx["files"] = std::move(files);
  } else if (t == "WebFetch") {
    std::string url;
    if (Status st = field("url", url); !st) return st.error();
    ctx["url"] = url;
    ctx["url_host"] = UrlHost(url);
  } else if (t == "WebSearch") {
    std::string query;
    if (Status st = field("query", query); !st) return st.error();
    ctx["search"] = query;
  } else if (t.rfind("mcp__", 0) == 0) {
    std::size_t sep = t.find("__", 5);
    ctx["mcp_server"] =
        t.substr(5, sep == std::string::npos ? std::string::npos : sep - 5);
    ctx["mcp_tool"] = sep == std::string::npos ? "" : t.substr(sep + 2);
    std::string args = SerializeJson(input);
    if (args.size() > kMaxText) return too_long("the arguments", args.size());
    ctx["arguments"] = input;
  } else {
    std::string args = SerializeJson(input);
    if (args.size() > kMaxText) return too_long("the tool input", args.size());
    ctx["input"] = input;
  }
  return call;
}

}  // namespace tether::hooks
