#include "policy/parser.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <unordered_set>

#include "core/text.h"
#include "policy/extensions.h"
#include "policy/lexer.h"

namespace tether::policy {
namespace {

constexpr std::uint64_t kI64Max = 9223372036854775807ULL;

bool IsVarName(std::string_view s) {
  return s == "principal" || s == "action" || s == "resource" || s == "context";
}

std::optional<Var> VarFromName(std::string_view s) {
  if (s == "principal") return Var::kPrincipal;
  if (s == "action") return Var::kAction;
  if (s == "resource") return Var::kResource;
  if (s == "context") return Var::kContext;
  return std::nullopt;
}

bool IsRelOp(Tok t) {
  return t == Tok::kEqEq || t == Tok::kNotEq || t == Tok::kLt ||
         t == Tok::kLe || t == Tok::kGt || t == Tok::kGe || t == Tok::kAssign;
}

struct MethodInfo {
  std::string_view name;
  enum Kind { kBuiltin, kExtension, kUnsupported } kind;
  ExprKind expr_kind;  // for builtins
  ExtFn fn;            // for extension methods
  int arity;           // builtins: exact argument count (receiver excluded)
};

const MethodInfo* FindMethod(std::string_view name) {
  static const MethodInfo kMethods[] = {
      {"contains", MethodInfo::kBuiltin, ExprKind::kContains, ExtFn::kIp, 1},
      {"containsAll", MethodInfo::kBuiltin, ExprKind::kContainsAll, ExtFn::kIp,
       1},
      {"containsAny", MethodInfo::kBuiltin, ExprKind::kContainsAny, ExtFn::kIp,
       1},
      {"isEmpty", MethodInfo::kBuiltin, ExprKind::kIsEmpty, ExtFn::kIp, 0},
      {"getTag", MethodInfo::kBuiltin, ExprKind::kGetTag, ExtFn::kIp, 1},
      {"hasTag", MethodInfo::kBuiltin, ExprKind::kHasTag, ExtFn::kIp, 1},
      {"isIpv4", MethodInfo::kExtension, ExprKind::kCall, ExtFn::kIsIpv4, 0},
      {"isIpv6", MethodInfo::kExtension, ExprKind::kCall, ExtFn::kIsIpv6, 0},
      {"isLoopback", MethodInfo::kExtension, ExprKind::kCall,
       ExtFn::kIsLoopback, 0},
      {"isMulticast", MethodInfo::kExtension, ExprKind::kCall,
       ExtFn::kIsMulticast, 0},
      {"isInRange", MethodInfo::kExtension, ExprKind::kCall, ExtFn::kIsInRange,
       0},
      {"lessThan", MethodInfo::kExtension, ExprKind::kCall, ExtFn::kLessThan,
       0},
      {"lessThanOrEqual", MethodInfo::kExtension, ExprKind::kCall,
       ExtFn::kLessThanOrEqual, 0},
      {"greaterThan", MethodInfo::kExtension, ExprKind::kCall,
       ExtFn::kGreaterThan, 0},
      {"greaterThanOrEqual", MethodInfo::kExtension, ExprKind::kCall,
       ExtFn::kGreaterThanOrEqual, 0},
      // The datetime extension's methods: valid Cedar, not supported here.
      {"offset", MethodInfo::kUnsupported, ExprKind::kCall, ExtFn::kIp, 0},
      {"durationSince", MethodInfo::kUnsupported, ExprKind::kCall, ExtFn::kIp,
       0},
      {"toDate", MethodInfo::kUnsupported, ExprKind::kCall, ExtFn::kIp, 0},
      {"toTime", MethodInfo::kUnsupported, ExprKind::kCall, ExtFn::kIp, 0},
      {"toMilliseconds", MethodInfo::kUnsupported, ExprKind::kCall, ExtFn::kIp,
       0},
      {"toSeconds", MethodInfo::kUnsupported, ExprKind::kCall, ExtFn::kIp, 0},
      {"toMinutes", MethodInfo::kUnsupported, ExprKind::kCall, ExtFn::kIp, 0},
      {"toHours", MethodInfo::kUnsupported, ExprKind::kCall, ExtFn::kIp, 0},
      {"toDays", MethodInfo::kUnsupported, ExprKind::kCall, ExtFn::kIp, 0},
  };
  for (const MethodInfo& m : kMethods) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

bool IsFunctionName(std::string_view name) {
  return name == "ip" || name == "decimal" || name == "unknown" ||
         name == "datetime" || name == "duration";
}

// Thrown nowhere: parse failures unwind by returning nullptr and setting
// `failed_`; the policy loop then resynchronizes at the next `;`.
class Parser {
 public:
  Parser(std::string_view text, Arena& arena, const ParseLimits& limits,
         std::vector<Diagnostic>& errors)
      : text_(text), arena_(arena), limits_(limits), errors_(errors) {}

  bool Tokenize() {
    if (text_.size() > limits_.max_source_bytes) {
      Error(SourceSpan{0, 0}, "policy text exceeds " +
                                  std::to_string(limits_.max_source_bytes) +
                                  " bytes");
      return false;
    }
    if (!IsValidUtf8(text_)) {
      Error(SourceSpan{0, 0}, "policy text is not valid utf-8");
      return false;
    }
    if (auto err = Lex(text_, tokens_)) {
      Error(err->span, err->message);
      return false;
    }
    return true;
  }

  void ParseAll(std::uint32_t source, std::vector<Policy>& out) {
    while (!At(Tok::kEof)) {
      if (errors_.size() >= limits_.max_errors) return;
      failed_ = false;
      nesting_ = 0;
      Policy policy;
      policy.source = source;
      if (ParsePolicy(policy)) {
        out.push_back(std::move(policy));
      } else {
        Resync();
      }
    }
  }

  const Expr* ParseStandaloneExpr() {
    const Expr* e = ParseExpr();
    if (e && !At(Tok::kEof)) {
      Unexpected("end of input");
      return nullptr;
    }
    return e;
  }

 private:
  // ---- token cursor ----
  const Token& Peek(std::size_t k = 0) const {
    std::size_t i = std::min(pos_ + k, tokens_.size() - 1);
    return tokens_[i];
  }
  bool At(Tok t) const { return Peek().kind == t; }
  std::string_view TextOf(const Token& t) const {
    return text_.substr(t.span.begin, t.span.end - t.span.begin);
  }
  bool AtKeyword(std::string_view kw, std::size_t k = 0) const {
    return Peek(k).kind == Tok::kIdent && TextOf(Peek(k)) == kw;
  }
  const Token& Next() {
    const Token& t = Peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  std::uint32_t PrevEnd() const {
    return pos_ == 0 ? 0 : tokens_[pos_ - 1].span.end;
  }

  // ---- errors ----
  std::nullptr_t Error(SourceSpan span, std::string message) {
    if (!failed_) errors_.push_back(Diagnostic{span, std::move(message)});
    failed_ = true;
    return nullptr;
  }
  std::nullptr_t Unexpected(std::string_view expected) {
    const Token& t = Peek();
    std::string got =
        t.kind == Tok::kEof ? "end of input" : "token " + Quote(TextOf(t));
    return Error(t.span,
                 "unexpected " + got + ", expected " + std::string(expected));
  }
  bool Expect(Tok t, std::string_view what) {
    if (At(t)) {
      Next();
      return true;
    }
    Unexpected(what);
    return false;
  }

  // Skips to just after the next `;` outside brackets, or to the end.
  void Resync() {
    int depth = 0;
    while (!At(Tok::kEof)) {
      Tok k = Next().kind;
      if (k == Tok::kLParen || k == Tok::kLBracket || k == Tok::kLBrace) {
        ++depth;
      } else if (k == Tok::kRParen || k == Tok::kRBracket ||
                 k == Tok::kRBrace) {
        if (depth > 0) --depth;
      } else if (k == Tok::kSemi && depth == 0) {
        return;
      }
    }
  }

  class NestGuard {
   public:
    explicit NestGuard(Parser& p) : p_(p) { ++p_.nesting_; }
    ~NestGuard() { --p_.nesting_; }
    bool ok() const { return p_.nesting_ <= p_.limits_.max_nesting; }

   private:
    Parser& p_;
  };

  // ---- node construction ----
  Expr* NewExpr(ExprKind kind, SourceSpan span) {
    Expr* e = arena_.New<Expr>();
    e->kind = kind;
    e->span = span;
    return e;
  }
  // Attaches kids and checks the tree height bound.
  Expr* WithKids(Expr* e, std::initializer_list<const Expr*> kids) {
    return WithKids(e, std::span<const Expr* const>(kids.begin(), kids.size()));
  }
  Expr* WithKids(Expr* e, std::span<const Expr* const> kids) {
    std::span<const Expr*> copy = arena_.NewArray<const Expr*>(kids.size());
    std::uint32_t depth = 0;
    for (std::size_t i = 0; i < kids.size(); ++i) {
      copy[i] = kids[i];
      depth = std::max(depth, kids[i]->depth);
    }
    e->kids = copy;
    e->depth = depth + 1;
    if (e->depth > limits_.max_tree_depth) {
      return Error(e->span, "expression is too deeply nested (more than " +
                                std::to_string(limits_.max_tree_depth) +
                                " levels)");
    }
    return e;
  }
  SourceSpan Span(std::uint32_t begin) const {
    return SourceSpan{begin, PrevEnd()};
  }
  Expr* Literal(Value v, SourceSpan span) {
    Expr* e = NewExpr(ExprKind::kLiteral, span);
    e->value = v;
    return e;
  }
  Expr* ErrorNode(std::string_view message, SourceSpan span) {
    Expr* e = NewExpr(ExprKind::kError, span);
    e->name = arena_.CopyString(message);
    return e;
  }

  // ---- identifiers and names ----
  // Checks an identifier used as a type/namespace component, attribute,
  // method or record key.
  bool CheckIdent(const Token& t) {
    std::string_view s = TextOf(t);
    if (IsReservedIdent(s)) {
      Error(t.span, "`" + std::string(s) +
                        "` is a reserved identifier and cannot be used here");
      return false;
    }
    if (s == "__cedar") {
      Error(t.span, "the name `__cedar` is reserved");
      return false;
    }
    return true;
  }

  std::optional<std::string> StringContents(const Token& t, bool pattern,
                                            std::vector<std::size_t>* stars) {
    std::string_view raw = TextOf(t);
    raw = raw.substr(1, raw.size() - 2);
    if (raw.size() > limits_.max_literal_bytes) {
      Error(t.span, "string literal exceeds " +
                        std::to_string(limits_.max_literal_bytes) + " bytes");
      return std::nullopt;
    }
    std::string out;
    if (auto err = Unescape(raw, pattern, out, stars)) {
      Error(t.span, "invalid string literal: " + *err);
      return std::nullopt;
    }
    return out;
  }

  // Parses `Ident (:: Ident)*` stopping before a `::` that is followed by a
  // string or `{`. Each component is checked. Returns the joined path.
  std::optional<std::string> ParsePath() {
    std::string path;
    while (true) {
      if (!At(Tok::kIdent)) {
        Unexpected("identifier");
        return std::nullopt;
      }
      const Token& t = Next();
      if (!CheckIdent(t)) return std::nullopt;
      path.append(TextOf(t));
      if (At(Tok::kColonColon) && Peek(1).kind == Tok::kIdent) {
        Next();
        path += "::";
        continue;
      }
      return path;
    }
  }

  // ---- expressions ----
  const Expr* ParseExpr() {
    NestGuard guard(*this);
    if (!guard.ok()) {
      return Error(Peek().span, "expression nesting exceeds " +
                                    std::to_string(limits_.max_nesting) +
                                    " levels");
    }
    if (AtKeyword("if")) {
      std::uint32_t begin = Next().span.begin;
      const Expr* cond = ParseExpr();
      if (!cond) return nullptr;
      if (!AtKeyword("then")) return Unexpected("`then`");
      Next();
      const Expr* then_e = ParseExpr();
      if (!then_e) return nullptr;
      if (!AtKeyword("else")) return Unexpected("`else`");
      Next();
      const Expr* else_e = ParseExpr();
      if (!else_e) return nullptr;
      return WithKids(NewExpr(ExprKind::kIf, Span(begin)),
                      {cond, then_e, else_e});
    }
    return ParseOr();
  }

  // `a || b || c` and `a && b && c` become one n-ary node each: the same
  // left-to-right, short-circuit evaluation as Cedar's left fold, without the
  // recursion depth.
  const Expr* ParseOr() { return ParseChain(Tok::kOrOr, ExprKind::kOr); }

  const Expr* ParseChain(Tok op, ExprKind kind) {
    std::uint32_t begin = Peek().span.begin;
    std::vector<const Expr*> items;
    const Expr* first = kind == ExprKind::kOr
                            ? ParseChain(Tok::kAndAnd, ExprKind::kAnd)
                            : ParseRelation();
    if (!first) return nullptr;
    items.push_back(first);
    while (At(op)) {
      Next();
      const Expr* next = kind == ExprKind::kOr
                             ? ParseChain(Tok::kAndAnd, ExprKind::kAnd)
                             : ParseRelation();
      if (!next) return nullptr;
      items.push_back(next);
    }
    if (items.size() == 1) return first;
    return WithKids(NewExpr(kind, Span(begin)), items);
  }

  const Expr* ParseRelation() {
    std::uint32_t begin = Peek().span.begin;
    const Expr* lhs = ParseAdd();
    if (!lhs) return nullptr;
    if (AtKeyword("has")) {
      Next();
      return ParseHas(lhs, begin);
    }
    if (AtKeyword("like")) {
      Next();
      return ParseLike(lhs, begin);
    }
    if (AtKeyword("is")) {
      Next();
      return ParseIs(lhs, begin);
    }
    bool is_in = AtKeyword("in");
    if (!is_in && !IsRelOp(Peek().kind)) return lhs;
    const Token& op = Next();
    if (op.kind == Tok::kAssign) {
      return Error(op.span, "`=` is not a valid operator, use `==`");
    }
    const Expr* rhs = ParseAdd();
    if (!rhs) return nullptr;
    if (AtKeyword("in") || IsRelOp(Peek().kind)) {
      return Error(Peek().span,
                   "relational operators cannot be chained; add parentheses");
    }
    ExprKind kind;
    switch (op.kind) {
      case Tok::kEqEq:
        kind = ExprKind::kEq;
        break;
      case Tok::kNotEq:
        kind = ExprKind::kNe;
        break;
      case Tok::kLt:
        kind = ExprKind::kLt;
        break;
      case Tok::kLe:
        kind = ExprKind::kLe;
        break;
      case Tok::kGt:
        kind = ExprKind::kGt;
        break;
      case Tok::kGe:
        kind = ExprKind::kGe;
        break;
      default:
        kind = ExprKind::kIn;
        break;
    }
    return WithKids(NewExpr(kind, Span(begin)), {lhs, rhs});
  }

  const Expr* ParseHas(const Expr* lhs, std::uint32_t begin) {
    std::vector<std::string_view> path;
    if (At(Tok::kString)) {
      const Token& t = Next();
      auto s = StringContents(t, false, nullptr);
      if (!s) return nullptr;
      path.push_back(arena_.CopyString(*s));
    } else if (At(Tok::kIdent)) {
      while (true) {
        const Token& t = Next();
        if (!CheckIdent(t)) return nullptr;
        path.push_back(arena_.CopyString(TextOf(t)));
        if (path.size() == 1 && At(Tok::kColonColon)) {
          return Error(Peek().span,
                       "`has` takes an attribute name, not a namespaced path");
        }
        if (At(Tok::kDot) && Peek(1).kind == Tok::kIdent) {
          Next();
          continue;
        }
        break;
      }
    } else {
      return Error(Peek().span,
                   "`has` must be followed by an attribute name or a string");
    }
    Expr* e = NewExpr(ExprKind::kHas, Span(begin));
    std::span<std::string_view> p =
        arena_.NewArray<std::string_view>(path.size());
    std::copy(path.begin(), path.end(), p.begin());
    e->path = p;
    return WithKids(e, {lhs});
  }

  const Expr* ParseLike(const Expr* lhs, std::uint32_t begin) {
    if (!At(Tok::kString)) {
      return Error(Peek().span, "`like` must be followed by a string pattern");
    }
    const Token& t = Next();
    std::vector<std::size_t> stars;
    auto s = StringContents(t, true, &stars);
    if (!s) return nullptr;
    std::vector<PatternPart> parts;
    std::string literal;
    std::size_t star_i = 0;
    auto flush = [&] {
      if (!literal.empty()) {
        parts.push_back(PatternPart{false, arena_.CopyString(literal)});
        literal.clear();
      }
    };
    for (std::size_t i = 0; i < s->size(); ++i) {
      bool literal_star = star_i < stars.size() && stars[star_i] == i;
      if (literal_star) ++star_i;
      if ((*s)[i] == '*' && !literal_star) {
        flush();
        if (parts.empty() || !parts.back().wildcard) {
          parts.push_back(PatternPart{true, {}});
        }
      } else {
        literal += (*s)[i];
      }
    }
    flush();
    Expr* e = NewExpr(ExprKind::kLike, Span(begin));
    std::span<PatternPart> p = arena_.NewArray<PatternPart>(parts.size());
    std::copy(parts.begin(), parts.end(), p.begin());
    e->pattern = p;
    return WithKids(e, {lhs});
  }

  const Expr* ParseIs(const Expr* lhs, std::uint32_t begin) {
    if (!At(Tok::kIdent)) {
      return Error(Peek().span, "`is` must be followed by an entity type");
    }
    auto type = ParsePath();
    if (!type) return nullptr;
    if (At(Tok::kColonColon)) {
      return Error(Peek().span,
                   "`is` takes an entity type, not an entity; remove the id");
    }
    Expr* e = NewExpr(ExprKind::kIs, Span(begin));
    e->name = arena_.CopyString(*type);
    e->name_hash = HashType(e->name);
    if (!AtKeyword("in")) return WithKids(e, {lhs});
    Next();
    const Expr* in = ParseAdd();
    if (!in) return nullptr;
    e->span = Span(begin);
    return WithKids(e, {lhs, in});
  }

  const Expr* ParseAdd() {
    std::uint32_t begin = Peek().span.begin;
    const Expr* lhs = ParseMult();
    if (!lhs) return nullptr;
    while (At(Tok::kPlus) || At(Tok::kMinus)) {
      ExprKind kind =
          Next().kind == Tok::kPlus ? ExprKind::kAdd : ExprKind::kSub;
      const Expr* rhs = ParseMult();
      if (!rhs) return nullptr;
      lhs = WithKids(NewExpr(kind, Span(begin)), {lhs, rhs});
      if (!lhs) return nullptr;
    }
    return lhs;
  }

  const Expr* ParseMult() {
    std::uint32_t begin = Peek().span.begin;
    const Expr* lhs = ParseUnary();
    if (!lhs) return nullptr;
    while (At(Tok::kStar) || At(Tok::kSlash) || At(Tok::kPercent)) {
      const Token& op = Next();
      if (op.kind == Tok::kSlash) {
        return Error(op.span, "division is not supported in cedar");
      }
      if (op.kind == Tok::kPercent) {
        return Error(op.span, "remainder is not supported in cedar");
      }
      const Expr* rhs = ParseUnary();
      if (!rhs) return nullptr;
      lhs = WithKids(NewExpr(ExprKind::kMul, Span(begin)), {lhs, rhs});
      if (!lhs) return nullptr;
    }
    return lhs;
  }

  std::optional<std::uint64_t> IntValue(const Token& t) {
    std::uint64_t v = 0;
    for (char c : TextOf(t)) {
      std::uint64_t d = static_cast<std::uint64_t>(c - '0');
      if (v > (UINT64_MAX - d) / 10) {
        Error(t.span, "integer literal " + Quote(TextOf(t)) + " is too large");
        return std::nullopt;
      }
      v = v * 10 + d;
    }
    return v;
  }

  const Expr* ParseUnary() {
    std::uint32_t begin = Peek().span.begin;
    if (!At(Tok::kBang) && !At(Tok::kMinus)) return ParseMember();
    Tok op = Peek().kind;
    std::vector<std::uint32_t> starts;
    while (At(op)) starts.push_back(Next().span.begin);
    if (starts.size() > 4) {
      return Error(Span(begin),
                   "too many unary operators (at most 4 in a row)");
    }
    const Expr* inner = nullptr;
    std::size_t wraps = starts.size();
    Tok after = Peek(1).kind;
    bool bare_int = op == Tok::kMinus && At(Tok::kInt) && after != Tok::kDot &&
                    after != Tok::kLBracket && after != Tok::kLParen;
    if (bare_int) {
      // `-N` is the literal -N (so -9223372036854775808 is valid); any
      // further dashes negate it.
      const Token& t = Next();
      auto v = IntValue(t);
      if (!v) return nullptr;
      std::int64_t value;
      if (*v == kI64Max + 1) {
        value = INT64_MIN;
      } else if (*v <= kI64Max) {
        value = -static_cast<std::int64_t>(*v);
      } else {
        return Error(t.span,
                     "integer literal " + Quote(TextOf(t)) + " is too large");
      }
      inner =
          Literal(Value::Long(value), SourceSpan{starts.back(), t.span.end});
      --wraps;
    } else {
      if (!At(Tok::kIdent) && !At(Tok::kInt) && !At(Tok::kString) &&
          !At(Tok::kLParen) && !At(Tok::kLBracket) && !At(Tok::kLBrace) &&
          !At(Tok::kSlot)) {
        return Unexpected("an expression");
      }
      inner = ParseMember();
      if (!inner) return nullptr;
    }
    while (wraps > 0) {
      --wraps;
      Expr* e = NewExpr(op == Tok::kBang ? ExprKind::kNot : ExprKind::kNeg,
                        SourceSpan{starts[wraps], inner->span.end});
      inner = WithKids(e, {inner});
      if (!inner) return nullptr;
    }
    return inner;
  }

  // Primary followed by `.attr`, `.method(args)` and `["attr"]` accesses.
  const Expr* ParseMember() {
    std::uint32_t begin = Peek().span.begin;
    const Expr* e = ParsePrimary();
    if (!e) return nullptr;
    while (true) {
      if (At(Tok::kDot)) {
        Next();
        if (!At(Tok::kIdent)) return Unexpected("attribute or method name");
        const Token& name = Next();
        if (!CheckIdent(name)) return nullptr;
        if (At(Tok::kLParen)) {
          e = ParseMethodCall(e, name, begin);
        } else {
          Expr* g = NewExpr(ExprKind::kGetAttr, Span(begin));
          g->name = arena_.CopyString(TextOf(name));
          e = WithKids(g, {e});
        }
        if (!e) return nullptr;
      } else if (At(Tok::kLBracket)) {
        Next();
        if (!At(Tok::kString) || Peek(1).kind != Tok::kRBracket) {
          return Error(Peek().span,
                       "an index `[...]` must be a string literal");
        }
        auto key = StringContents(Next(), false, nullptr);
        if (!key) return nullptr;
        Next();  // ]
        Expr* g = NewExpr(ExprKind::kGetAttr, Span(begin));
        g->name = arena_.CopyString(*key);
        e = WithKids(g, {e});
        if (!e) return nullptr;
      } else if (At(Tok::kLParen)) {
        return Error(Peek().span,
                     "function calls must be of the form `name(arg, ...)`");
      } else {
        return e;
      }
    }
  }

  // Parses `( expr, ... )` with an optional trailing comma.
  bool ParseArgs(std::vector<const Expr*>& args) {
    if (!Expect(Tok::kLParen, "`(`")) return false;
    while (!At(Tok::kRParen)) {
      const Expr* a = ParseExpr();
      if (!a) return false;
      args.push_back(a);
      if (At(Tok::kComma)) {
        Next();
      } else if (!At(Tok::kRParen)) {
        Unexpected("`,` or `)`");
        return false;
      }
    }
    Next();
    return true;
  }

  const Expr* ParseMethodCall(const Expr* receiver, const Token& name_tok,
                              std::uint32_t begin) {
    std::string_view name = TextOf(name_tok);
    std::vector<const Expr*> args{receiver};
    if (!ParseArgs(args)) return nullptr;
    const MethodInfo* m = FindMethod(name);
    if (!m) {
      if (IsFunctionName(name)) {
        return Error(name_tok.span,
                     "`" + std::string(name) + "` is a function, not a method");
      }
      return Error(name_tok.span,
                   "`" + std::string(name) + "` is not a valid method");
    }
    if (m->kind == MethodInfo::kUnsupported) {
      return Error(name_tok.span,
                   "`" + std::string(name) +
                       "` belongs to cedar's datetime extension, which tether "
                       "does not support");
    }
    if (m->kind == MethodInfo::kBuiltin) {
      int got = static_cast<int>(args.size()) - 1;
      if (got != m->arity) {
        return Error(Span(begin), "call to `" + std::string(name) +
                                      "` requires exactly " +
                                      std::to_string(m->arity) + " argument" +
                                      (m->arity == 1 ? "" : "s") +
                                      ", but got " + std::to_string(got));
      }
      return WithKids(NewExpr(m->expr_kind, Span(begin)), args);
    }
    Expr* e = NewExpr(ExprKind::kCall, Span(begin));
    e->fn = m->fn;
    e->name = arena_.CopyString(name);
    return WithKids(e, args);
  }

  const Expr* ParseFunctionCall(const std::string& name, SourceSpan name_span,
                                std::uint32_t begin) {
    std::vector<const Expr*> args;
    if (!ParseArgs(args)) return nullptr;
    if (FindMethod(name)) {
      return Error(name_span, "`" + name + "` is a method, not a function");
    }
    ExtFn fn;
    if (name == "ip") {
      fn = ExtFn::kIp;
    } else if (name == "decimal") {
      fn = ExtFn::kDecimal;
    } else if (name == "unknown") {
      fn = ExtFn::kUnknown;
    } else if (name == "datetime" || name == "duration") {
      return Error(name_span, "`" + name +
                                  "` belongs to cedar's datetime extension, "
                                  "which tether does not support");
    } else {
      return Error(name_span, "`" + name + "` is not a valid function");
    }
    Expr* e = NewExpr(ExprKind::kCall, Span(begin));
    e->fn = fn;
    e->name = arena_.CopyString(name);
    Expr* call = WithKids(e, args);
    if (!call) return nullptr;
    return FoldConstructor(call);
  }

  // `ip("...")` and `decimal("...")` with a literal argument are evaluated
  // now; a bad literal becomes an error node that fails when (and only when)
  // evaluated, exactly as the call would.
  const Expr* FoldConstructor(const Expr* call) {
    if (call->fn != ExtFn::kIp && call->fn != ExtFn::kDecimal) return call;
    if (call->kids.size() != 1 || call->kids[0]->kind != ExprKind::kLiteral ||
        !call->kids[0]->value.is(ValueKind::kString)) {
      return call;
    }
    std::string_view arg = call->kids[0]->value.AsString();
    if (call->fn == ExtFn::kIp) {
      auto ip = ParseIp(arg);
      if (!ip) {
        return ErrorNode("invalid ip address " + Quote(arg), call->span);
      }
      return Literal(Value::Ip(arena_.New<IpAddr>(*ip)), call->span);
    }
    auto d = ParseDecimal(arg);
    if (!d) return ErrorNode("invalid decimal " + Quote(arg), call->span);
    return Literal(Value::Decimal(*d), call->span);
  }

  const Expr* ParsePrimary() {
    const Token& t = Peek();
    std::uint32_t begin = t.span.begin;
    switch (t.kind) {
      case Tok::kInt: {
        Next();
        auto v = IntValue(t);
        if (!v) return nullptr;
        if (*v > kI64Max) {
          return Error(t.span,
                       "integer literal " + Quote(TextOf(t)) + " is too large");
        }
        return Literal(Value::Long(static_cast<std::int64_t>(*v)), t.span);
      }
      case Tok::kString: {
        Next();
        auto s = StringContents(t, false, nullptr);
        if (!s) return nullptr;
        return Literal(Value::String(arena_.CopyString(*s)), t.span);
      }
      case Tok::kSlot:
        return Error(t.span, "template slots such as " + Quote(TextOf(t)) +
                                 " are not supported; write static policies");
      case Tok::kLParen: {
        Next();
        const Expr* e = ParseExpr();
        if (!e) return nullptr;
        if (!Expect(Tok::kRParen, "`)`")) return nullptr;
        return e;
      }
      case Tok::kLBracket:
        return ParseSetLiteral();
      case Tok::kLBrace:
        return ParseRecordLiteral();
      case Tok::kIdent:
        break;
      default:
        return Unexpected("an expression");
    }
    std::string_view word = TextOf(t);
    if (word == "true" || word == "false") {
      Next();
      return Literal(Value::Bool(word == "true"), t.span);
    }
    if (word == "if") {
      return Error(t.span, "an `if` expression must be in parentheses here");
    }
    // A path: variable, entity literal or function call.
    bool single = Peek(1).kind != Tok::kColonColon;
    if (single && IsVarName(word) && Peek(1).kind != Tok::kLParen) {
      Next();
      Expr* e = NewExpr(ExprKind::kVar, t.span);
      e->var = *VarFromName(word);
      return e;
    }
    auto path = ParsePath();
    if (!path) return nullptr;
    SourceSpan path_span = Span(begin);
    if (At(Tok::kColonColon)) {
      Next();
      if (At(Tok::kLBrace)) {
        return Error(Peek().span,
                     "entity literals must be of the form `Type::\"id\"`");
      }
      if (!At(Tok::kString)) return Unexpected("a string entity id");
      const Token& id_tok = Next();
      auto id = StringContents(id_tok, false, nullptr);
      if (!id) return nullptr;
      return Literal(Value::Entity(MakeUid(arena_, *path, *id)), Span(begin));
    }
    if (At(Tok::kLParen)) {
      if (IsVarName(*path)) {
        return Error(path_span,
                     "`" + *path + "(...)` is not a valid function call");
      }
      return ParseFunctionCall(*path, path_span, begin);
    }
    return Error(path_span, "invalid variable `" + *path +
                                "`; variables are principal, action, "
                                "resource and context");
  }

  const Expr* ParseSetLiteral() {
    NestGuard guard(*this);
    std::uint32_t begin = Next().span.begin;  // [
    if (!guard.ok()) return Error(Span(begin), "set literal nested too deep");
    std::vector<const Expr*> items;
    bool all_literal = true;
    while (!At(Tok::kRBracket)) {
      const Expr* item = ParseExpr();
      if (!item) return nullptr;
      all_literal &= item->kind == ExprKind::kLiteral;
      items.push_back(item);
      if (At(Tok::kComma)) {
        Next();
      } else if (!At(Tok::kRBracket)) {
        return Unexpected("`,` or `]`");
      }
    }
    Next();
    if (all_literal) {
      std::vector<Value> values;
      std::uint32_t depth = 0;
      for (const Expr* i : items) {
        values.push_back(i->value);
        depth = std::max(depth, i->depth);
      }
      Expr* e = Literal(Value::Set(MakeSet(arena_, values)), Span(begin));
      e->depth = depth + 1;
      return e;
    }
    return WithKids(NewExpr(ExprKind::kSet, Span(begin)), items);
  }

  const Expr* ParseRecordLiteral() {
    NestGuard guard(*this);
    std::uint32_t begin = Next().span.begin;  // {
    if (!guard.ok())
      return Error(Span(begin), "record literal nested too deep");
    std::vector<std::string_view> keys;
    std::unordered_set<std::string> seen;
    std::vector<const Expr*> values;
    bool all_literal = true;
    while (!At(Tok::kRBrace)) {
      const Token& k = Peek();
      std::string key;
      if (k.kind == Tok::kString) {
        Next();
        auto s = StringContents(k, false, nullptr);
        if (!s) return nullptr;
        key = std::move(*s);
      } else if (k.kind == Tok::kIdent) {
        Next();
        if (!CheckIdent(k)) return nullptr;
        if (At(Tok::kColonColon)) {
          return Error(Peek().span,
                       "record keys must be identifiers or strings, not paths");
        }
        key = TextOf(k);
      } else {
        return Error(k.span, "record keys must be identifiers or strings");
      }
      if (!Expect(Tok::kColon, "`:`")) return nullptr;
      if (!seen.insert(key).second) {
        return Error(k.span,
                     "duplicate key " + Quote(key) + " in record literal");
      }
      const Expr* v = ParseExpr();
      if (!v) return nullptr;
      all_literal &= v->kind == ExprKind::kLiteral;
      keys.push_back(arena_.CopyString(key));
      values.push_back(v);
      if (At(Tok::kComma)) {
        Next();
      } else if (!At(Tok::kRBrace)) {
        return Unexpected("`,` or `}`");
      }
    }
    Next();
    if (all_literal) {
      std::vector<RecordEntry> entries;
      std::uint32_t depth = 0;
      for (std::size_t i = 0; i < keys.size(); ++i) {
        entries.push_back(RecordEntry{keys[i], values[i]->value});
        depth = std::max(depth, values[i]->depth);
      }
      Expr* e =
          Literal(Value::Record(MakeRecord(arena_, entries)), Span(begin));
      e->depth = depth + 1;
      return e;
    }
    Expr* e = NewExpr(ExprKind::kRecord, Span(begin));
    std::span<std::string_view> p =
        arena_.NewArray<std::string_view>(keys.size());
    std::copy(keys.begin(), keys.end(), p.begin());
    e->path = p;
    return WithKids(e, values);
  }

  // ---- policies ----
  bool ParseAnnotation(Policy& policy) {
    std::uint32_t begin = Next().span.begin;  // @
    if (!At(Tok::kIdent)) {
      Unexpected("annotation name");
      return false;
    }
    const Token& key = Next();
    Annotation a;
    a.key = TextOf(key);
    if (At(Tok::kLParen)) {
      Next();
      if (!At(Tok::kString)) {
        Unexpected("a string annotation value");
        return false;
      }
      auto v = StringContents(Next(), false, nullptr);
      if (!v) return false;
      a.value = std::move(*v);
      if (!Expect(Tok::kRParen, "`)`")) return false;
    }
    a.span = Span(begin);
    if (!annotation_keys_.insert(a.key).second) {
      Error(key.span, "duplicate annotation `@" + a.key + "`");
      return false;
    }
    policy.annotations.push_back(std::move(a));
    return true;
  }

  // The right side of a principal/resource/action scope constraint:
  // an entity literal (action: or a set of them), possibly parenthesized.
  const EntityUid* ScopeEntity(const Expr* e, std::string_view var) {
    if (e->kind == ExprKind::kLiteral && e->value.is(ValueKind::kEntity)) {
      return &e->value.AsEntity();
    }
    Error(e->span, "the " + std::string(var) +
                       " scope needs an entity literal such as "
                       "`Type::\"id\"` here");
    return nullptr;
  }

  bool CheckActionType(const EntityUid& uid, SourceSpan span) {
    std::string_view type = uid.type;
    std::size_t sep = type.rfind("::");
    std::string_view last =
        sep == std::string_view::npos ? type : type.substr(sep + 2);
    if (last != "Action") {
      Error(span,
            "action scope entities must have type `Action` or "
            "`Namespace::Action`, got " +
                Quote(UidToString(uid)));
      return false;
    }
    return true;
  }

  bool ParseScopeVar(std::string_view expected, ScopeConstraint& sc) {
    std::uint32_t begin = Peek().span.begin;
    if (!At(Tok::kIdent)) {
      Unexpected("`" + std::string(expected) + "`");
      return false;
    }
    const Token& var = Next();
    std::string_view name = TextOf(var);
    if (name != "principal" && name != "action" && name != "resource") {
      Error(var.span, "invalid scope variable " + Quote(name) + "; expected `" +
                          std::string(expected) + "`");
      return false;
    }
    if (name != expected) {
      Error(var.span, "expected `" + std::string(expected) + "` here, found " +
                          Quote(name));
      return false;
    }
    bool is_action = expected == "action";
    if (At(Tok::kColon)) {
      Error(Peek().span,
            "type constraints with `:` are not supported; use `is`");
      return false;
    }
    if (AtKeyword("is")) {
      const Token& is_tok = Next();
      if (is_action) {
        Error(is_tok.span, "`is` cannot be used in the action scope");
        return false;
      }
      if (!At(Tok::kIdent)) {
        Error(Peek().span, "`is` must be followed by an entity type");
        return false;
      }
      auto type = ParsePath();
      if (!type) return false;
      if (At(Tok::kColonColon)) {
        Error(Peek().span,
              "`is` takes an entity type, not an entity; remove the id");
        return false;
      }
      sc.type = arena_.CopyString(*type);
      sc.type_hash = HashType(sc.type);
      sc.op = ScopeConstraint::Op::kIs;
      if (At(Tok::kEqEq)) {
        Error(Peek().span, "`is` cannot be combined with `==`; use `in`");
        return false;
      }
      if (AtKeyword("in")) {
        Next();
        const Expr* e = ParseExpr();
        if (!e) return false;
        sc.uid = ScopeEntity(e, expected);
        if (!sc.uid) return false;
        sc.op = ScopeConstraint::Op::kIsIn;
      } else if (IsRelOp(Peek().kind)) {
        Error(Peek().span, "invalid operator in the " + std::string(expected) +
                               " scope; use `==`, `in` or `is`");
        return false;
      }
      sc.span = Span(begin);
      return true;
    }
    bool eq = At(Tok::kEqEq);
    bool in = AtKeyword("in");
    if (!eq && !in) {
      if (IsRelOp(Peek().kind)) {
        const Token& op = Next();
        if (op.kind != Tok::kAssign) {
          // Cedar checks the right side first; an invalid one is reported.
          const Expr* e = ParseExpr();
          if (!e) return false;
        }
        Error(op.span, op.kind == Tok::kAssign
                           ? "`=` is not a valid operator, use `==`"
                           : "invalid operator in the " +
                                 std::string(expected) +
                                 " scope; use `==` or `in`");
        return false;
      }
      sc.op = ScopeConstraint::Op::kAny;
      sc.span = Span(begin);
      return true;
    }
    Next();
    const Expr* e = ParseExpr();
    if (!e) return false;
    if (is_action && in && e->kind == ExprKind::kLiteral &&
        e->value.is(ValueKind::kSet)) {
      const SetData& set = e->value.AsSet();
      std::span<const EntityUid*> uids =
          arena_.NewArray<const EntityUid*>(set.size);
      for (std::size_t i = 0; i < set.size; ++i) {
        if (!set.items[i].is(ValueKind::kEntity)) {
          Error(e->span,
                "the action scope's set may contain only entity "
                "literals");
          return false;
        }
        uids[i] = &set.items[i].AsEntity();
        if (!CheckActionType(*uids[i], e->span)) return false;
      }
      sc.op = ScopeConstraint::Op::kInSet;
      sc.uids = uids;
      sc.span = Span(begin);
      return true;
    }
    if (e->kind == ExprKind::kIs) {
      Error(e->span, is_action ? "`is` cannot be used in the action scope"
                               : "write `" + std::string(expected) +
                                     " is Type in Entity`, with `is` first");
      return false;
    }
    sc.uid = ScopeEntity(e, expected);
    if (!sc.uid) return false;
    if (is_action && !CheckActionType(*sc.uid, e->span)) return false;
    sc.op = eq ? ScopeConstraint::Op::kEq : ScopeConstraint::Op::kIn;
    sc.span = Span(begin);
    return true;
  }

  bool ParsePolicy(Policy& policy) {
    std::uint32_t begin = Peek().span.begin;
    annotation_keys_.clear();
    while (At(Tok::kAt)) {
      if (!ParseAnnotation(policy)) return false;
    }
    if (!At(Tok::kIdent)) {
      Unexpected("`permit` or `forbid`");
      return false;
    }
    const Token& effect = Next();
    if (TextOf(effect) == "permit") {
      policy.effect = Effect::kPermit;
    } else if (TextOf(effect) == "forbid") {
      policy.effect = Effect::kForbid;
    } else {
      Error(effect.span, "invalid policy effect " + Quote(TextOf(effect)) +
                             "; expected `permit` or `forbid`");
      return false;
    }
    if (!Expect(Tok::kLParen, "`(`")) return false;
    static constexpr std::string_view kVars[] = {"principal", "action",
                                                 "resource"};
    ScopeConstraint* slots[] = {&policy.principal, &policy.action,
                                &policy.resource};
    for (int i = 0; i < 3; ++i) {
      if (At(Tok::kRParen)) {
        Error(Peek().span,
              "the policy scope is missing `" + std::string(kVars[i]) + "`");
        return false;
      }
      if (!ParseScopeVar(kVars[i], *slots[i])) return false;
      if (i < 2) {
        if (At(Tok::kRParen)) {
          Error(Peek().span, "the policy scope is missing `" +
                                 std::string(kVars[i + 1]) + "`");
          return false;
        }
        if (!Expect(Tok::kComma, "`,`")) return false;
      }
    }
    if (At(Tok::kComma)) Next();  // trailing comma
    if (!At(Tok::kRParen)) {
      if (At(Tok::kIdent)) {
        Error(Peek().span,
              "the policy scope has more than principal, action and resource");
      } else {
        Unexpected("`)`");
      }
      return false;
    }
    Next();
    while (At(Tok::kIdent)) {
      const Token& kw = Next();
      std::string_view k = TextOf(kw);
      if (k != "when" && k != "unless") {
        Error(kw.span, "invalid condition " + Quote(k) +
                           "; expected `when` or `unless`");
        return false;
      }
      std::uint32_t cbegin = kw.span.begin;
      if (!Expect(Tok::kLBrace, "`{`")) return false;
      if (At(Tok::kRBrace)) {
        Error(Peek().span,
              "`" + std::string(k) + "` condition clause cannot be empty");
        return false;
      }
      const Expr* body = ParseExpr();
      if (!body) return false;
      if (!Expect(Tok::kRBrace, "`}`")) return false;
      policy.conditions.push_back(Condition{k == "when", body, Span(cbegin)});
    }
    if (!Expect(Tok::kSemi, "`;`")) return false;
    policy.span = Span(begin);
    return true;
  }

  std::string_view text_;
  Arena& arena_;
  const ParseLimits& limits_;
  std::vector<Diagnostic>& errors_;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  std::size_t nesting_ = 0;
  bool failed_ = false;
  std::unordered_set<std::string> annotation_keys_;  // of the current policy
};

}  // namespace

bool IsReservedIdent(std::string_view s) {
  return s == "true" || s == "false" || s == "if" || s == "then" ||
         s == "else" || s == "in" || s == "is" || s == "has" || s == "like";
}

bool IsValidTypeName(std::string_view s) {
  std::size_t i = 0;
  while (true) {
    std::size_t start = i;
    if (i >= s.size()) return false;
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')) {
      return false;
    }
    while (i < s.size() &&
           ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
            (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) {
      ++i;
    }
    std::string_view part = s.substr(start, i - start);
    if (IsReservedIdent(part) || part == "__cedar") return false;
    if (i == s.size()) return true;
    if (s.substr(i, 2) != "::") return false;
    i += 2;
  }
}

ParseOutput ParsePolicies(std::string_view text, Arena& arena,
                          std::uint32_t source, const ParseLimits& limits) {
  ParseOutput out;
  Parser parser(text, arena, limits, out.errors);
  if (parser.Tokenize()) parser.ParseAll(source, out.policies);
  return out;
}

ExprParse ParseExpression(std::string_view text, Arena& arena,
                          const ParseLimits& limits) {
  ExprParse out;
  Parser parser(text, arena, limits, out.errors);
  if (parser.Tokenize()) out.expr = parser.ParseStandaloneExpr();
  if (!out.errors.empty()) out.expr = nullptr;
  return out;
}

}  // namespace tether::policy
