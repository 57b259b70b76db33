#include "cli/field_parse.h"

#include <catch2/catch.hpp>

namespace cqrs::cli {
namespace {
Value Parsed(std::string_view arg) {
  auto f = ParseFieldArg(arg);
  REQUIRE(f.ok());
  return f->value;
}
}  // namespace

TEST_CASE("ParseFieldArg types values as the README says", "[cli][fields]") {
  CHECK(Parsed("n=5") == Value{std::int64_t{5}});
  CHECK(Parsed("n=-42") == Value{std::int64_t{-42}});
  CHECK(Parsed("x=1.5") == Value{1.5});
  CHECK(Parsed("x=-2e3") == Value{-2000.0});
  CHECK(Parsed("b=true") == Value{true});
  CHECK(Parsed("b=false") == Value{false});
  CHECK(Parsed("s=text") == Value{std::string("text")});
  CHECK(Parsed("s=\"5\"") == Value{std::string("5")});
  CHECK(Parsed("s=") == Value{std::string()});
  CHECK(Parsed("s=a=b") == Value{std::string("a=b")});
  CHECK(Parsed("h=0xdead") == Value{Bytes{std::string("\xde\xad")}});
  CHECK(Parsed("v=1.2.3") == Value{std::string("1.2.3")});
}

TEST_CASE("ParseFieldArg names what is wrong with an argument", "[cli][fields]") {
  CHECK_THAT(ParseFieldArg("novalue").status().message(), Catch::Contains("is not name=value"));
  CHECK_THAT(ParseFieldArg("9a=1").status().message(),
             Catch::Contains("field name '9a' must match"));
  CHECK_THAT(ParseFieldArg("n=99999999999999999999").status().message(),
             Catch::Contains("outside the int64 range"));
  CHECK_THAT(ParseFieldArg("x=1e999").status().message(), Catch::Contains("not a finite double"));
  CHECK_THAT(ParseFieldArg("h=0xabc").status().message(), Catch::Contains("even number"));
  CHECK_THAT(ParseFieldArg("h=0xzz").status().message(), Catch::Contains("is not hex"));
}

}  // namespace cqrs::cli

namespace cqrs::cli {

TEST_CASE("ParseFindArg reads equality and inclusive ranges, typed like fields", "[cli][fields]") {
  auto eq = ParseFindArg("status=open");
  REQUIRE(eq.ok());
  CHECK(eq->field == "status");
  CHECK(eq->eq == Value(std::string("open")));
  CHECK(std::holds_alternative<std::monostate>(eq->lo));
  auto range = ParseFindArg("amount=10..20.5");
  REQUIRE(range.ok());
  CHECK(range->lo == Value(std::int64_t{10}));
  CHECK(range->hi == Value(20.5));
  CHECK(std::holds_alternative<std::monostate>(range->eq));
  auto open_above = ParseFindArg("amount=-1.5..");
  REQUIRE(open_above.ok());
  CHECK(open_above->lo == Value(-1.5));
  CHECK(std::holds_alternative<std::monostate>(open_above->hi));
  CHECK(ParseFindArg("amount=..3")->hi == Value(std::int64_t{3}));
  CHECK(ParseFindArg("s=\"a..b\"")->eq == Value(std::string("a..b")));  // quoted: no range
  CHECK_THAT(ParseFindArg("status").status().message(), Catch::Contains("not field=value"));
  CHECK_THAT(ParseFindArg("amount=..").status().message(), Catch::Contains("without bounds"));
  CHECK_THAT(ParseFindArg("9x=1").status().message(), Catch::Contains("field name '9x'"));
  CHECK_THAT(ParseFindArg("n=99999999999999999999..").status().message(),
             Catch::Contains("outside the int64 range"));
}

}  // namespace cqrs::cli
