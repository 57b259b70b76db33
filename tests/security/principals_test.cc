// Key pairs, key files and the principals file: round trips, and each bad input refused by name.
#include "security/principals.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>

#include "security/keys.h"
#include "tests/support/test_support.h"

namespace cqrs::security {
namespace {

using testing::TempDir;

void WriteText(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

Principal Make(std::string name, std::string tenant) {
  Principal p;
  p.name = std::move(name);
  p.public_key = GenerateKeyPair().value().public_key;
  p.tenant = std::move(tenant);
  p.read = {"orders", "*"};
  p.write = {"orders"};
  return p;
}

}  // namespace

TEST_CASE("keygen writes a 0600 key file and a public one that read back", "[security]") {
  TempDir dir;
  auto keys = GenerateKeyPair();
  REQUIRE(keys.ok());
  CHECK(keys->public_key.size() == kZ85KeyLength);
  CHECK(keys->secret_key.size() == kZ85KeyLength);
  REQUIRE(WriteKeyFiles(dir.path(), "svc", keys.value(), false).ok());
  struct stat st;
  REQUIRE(stat((dir / "svc.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto pair = ReadKeyFile(dir / "svc.key");
  REQUIRE(pair.ok());
  CHECK(pair->public_key == keys->public_key);
  CHECK(pair->secret_key == keys->secret_key);
  auto pub = ReadKeyFile(dir / "svc.pub");
  REQUIRE(pub.ok());
  CHECK(pub->public_key == keys->public_key);
  CHECK(pub->secret_key.empty());

  // Never overwritten by accident; a bad name is refused before anything is written.
  CHECK(WriteKeyFiles(dir.path(), "svc", keys.value(), false).code() == Code::kAlreadyExists);
  CHECK(WriteKeyFiles(dir.path(), "svc", keys.value(), true).ok());
  for (const std::string& bad :
       std::vector<std::string>{"", ".hidden", "a/b", "sp ace", std::string(65, 'a')}) {
    INFO(bad);
    CHECK(WriteKeyFiles(dir.path(), bad, keys.value(), false).code() == Code::kInvalidArgument);
  }

  // A secret readable by others, a mismatched pair, a mangled key, an unknown key: refused.
  std::filesystem::permissions(dir / "svc.key", std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  auto open = ReadKeyFile(dir / "svc.key");
  CHECK(open.status().code() == Code::kPermissionDenied);
  CHECK_THAT(open.status().message(), Catch::Contains("chmod 600"));
  auto other = GenerateKeyPair().value();
  struct Case {
    std::string text;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"public_key = \"" + other.public_key + "\"\nsecret_key = \"" + keys->secret_key +
                "\"\n",
            "is not the secret_key's"},
           {"public_key = \"short\"\n", "must be 40 Z85 characters, not 5"},
           {"public_key = \"" + std::string(40, '~') + "\"\n", "Z85"},
           {"public_key = \"" + other.public_key + "\"\ncolour = 1\n", "unknown key colour"},
           {"public_key = 5\n", "key public_key must be a string"},
       }) {
    INFO(c.text);
    WriteText(dir / "bad.pub", c.text);
    auto r = ReadKeyFile(dir / "bad.pub");
    REQUIRE(!r.ok());
    CHECK_THAT(r.status().message(), Catch::Contains(c.message));
  }
  CHECK(ReadKeyFile(dir / "missing.pub").status().code() == Code::kNotFound);
}

TEST_CASE("The principals file round-trips; the ACL allows what it lists", "[security]") {
  TempDir dir;
  std::string path = dir / "principals.toml";
  auto empty = Principals::Load(path);  // absent: no principals
  REQUIRE(empty.ok());
  CHECK(empty->all().empty());

  Principals set;
  Principal a = Make("orders-service", "acme");
  a.read = {"orders", "customers"};
  Principal b = Make("reporting", "acme");
  b.read = {"*"};
  b.write = {};
  b.disabled = true;
  REQUIRE(set.Add(a).ok());
  REQUIRE(set.Add(b).ok());
  REQUIRE(set.Save(path).ok());
  auto loaded = Principals::Load(path);
  REQUIRE(loaded.ok());
  REQUIRE(loaded->all().size() == 2);
  const Principal* la = loaded->FindByKey(a.public_key);
  REQUIRE(la != nullptr);
  CHECK(la->name == "orders-service");
  CHECK(la->tenant == "acme");
  CHECK(la->read == a.read);
  CHECK(la->write == a.write);
  CHECK(!la->disabled);
  CHECK(loaded->FindByName("reporting")->disabled);

  CHECK(la->Allows(Access::kRead, "customers"));
  CHECK(la->Allows(Access::kWrite, "orders"));
  CHECK_FALSE(la->Allows(Access::kWrite, "customers"));
  CHECK_FALSE(la->Allows(Access::kRead, "invoices"));
  CHECK(loaded->FindByName("reporting")->Allows(Access::kRead, "invoices"));
  CHECK_FALSE(loaded->FindByName("reporting")->Allows(Access::kWrite, "invoices"));

  REQUIRE(loaded->SetDisabled("orders-service", true).ok());
  CHECK(loaded->SetDisabled("nobody", true).code() == Code::kNotFound);
  CHECK(loaded->FindByName("orders-service")->disabled);
}

TEST_CASE("Bad principals are refused, naming the entry and the field", "[security]") {
  Principals set;
  Principal a = Make("svc", "acme");
  REQUIRE(set.Add(a).ok());
  Principal same_name = Make("svc", "other");
  CHECK(set.Add(same_name).code() == Code::kAlreadyExists);
  Principal same_key = Make("svc2", "acme");
  same_key.public_key = a.public_key;
  auto s = set.Add(same_key);
  CHECK(s.code() == Code::kAlreadyExists);
  CHECK_THAT(s.message(), Catch::Contains("principal svc already has this public key"));

  struct Case {
    std::function<void(Principal&)> spoil;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {[](Principal& p) { p.name = "no spaces"; }, "principal name \"no spaces\""},
           {[](Principal& p) { p.public_key = "abc"; }, "public_key must be 40 Z85"},
           {[](Principal& p) { p.tenant = "Acme"; }, "tenant \"Acme\" must be 1-64 of [a-z0-9_]"},
           {[](Principal& p) { p.tenant = ""; }, "tenant \"\""},
           {[](Principal& p) {
              p.read = {"orders", "Bad-Name"};
            },
            "read lists \"Bad-Name\""},
           {[](Principal& p) { p.write = {""}; }, "write lists \"\""},
       }) {
    Principal p = Make("x", "t");
    c.spoil(p);
    auto st = ValidatePrincipal(p);
    INFO(st.message());
    CHECK(st.code() == Code::kInvalidArgument);
    CHECK_THAT(st.message(), Catch::Contains(c.message));
  }

  TempDir dir;
  std::string key = GenerateKeyPair().value().public_key;
  struct FileCase {
    std::string text;
    std::string message;
  };
  for (const FileCase& c : std::vector<FileCase>{
           {"[[principals]]\nname = \"a\"\npublic_key = \"" + key +
                "\"\ntenant = \"t\"\nrole = \"admin\"\n",
            "principals[0]: unknown key principals[0].role"},
           {"[[principals]]\nname = \"a\"\npublic_key = \"" + key +
                "\"\ntenant = \"t\"\nread = \"orders\"\n",
            "principals[0].read must be an array of strings"},
           {"[[principals]]\nname = \"a\"\npublic_key = \"" + key +
                "\"\ntenant = \"t\"\n[[principals]]\nname = \"a\"\npublic_key = \"" + key +
                "\"\ntenant = \"t\"\n",
            "principals[1]: a principal named a exists"},
           {"[[principals]]\nname = \"a\"\ntenant = \"t\"\n", "principal a public_key must be"},
           {"principals = 3\n", "key principals must be an array of tables"},
           {"users = []\n", "unknown key users"},
           {"[[principals]\n", "principals.toml"},
       }) {
    INFO(c.text);
    WriteText(dir / "principals.toml", c.text);
    auto r = Principals::Load(dir / "principals.toml");
    REQUIRE(!r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK_THAT(r.status().message(), Catch::Contains(c.message));
  }
}

TEST_CASE("The change feed admits only the principal's own tenant's readable topics",
          "[security]") {
  Principal some{"a", "k", "acme", {"orders", "customers"}, {}, false};
  Principal all{"b", "k", "acme", {"*"}, {}, false};
  for (const Principal* p : {&some, &all}) {
    CHECK(p->AllowsTopic("~hb"));
    CHECK(p->AllowsTopic("acme/orders/"));
    CHECK(p->AllowsTopic("acme/orders/o1"));
    CHECK(p->AllowsTopic("acme/customers/"));
    CHECK_FALSE(p->AllowsTopic(""));
    CHECK_FALSE(p->AllowsTopic("a"));
    CHECK_FALSE(p->AllowsTopic("acme"));
    CHECK_FALSE(p->AllowsTopic("acmex/orders/"));
    CHECK_FALSE(p->AllowsTopic("other/orders/"));
    CHECK_FALSE(p->AllowsTopic("orders/"));
  }
  // The whole tenant, or a collection name prefix, only with read "*".
  CHECK_FALSE(some.AllowsTopic("acme/"));
  CHECK_FALSE(some.AllowsTopic("acme/ord"));
  CHECK_FALSE(some.AllowsTopic("acme/orders"));
  CHECK_FALSE(some.AllowsTopic("acme/invoices/"));
  CHECK(all.AllowsTopic("acme/"));
  CHECK(all.AllowsTopic("acme/invoices/"));
}

TEST_CASE("A reload revokes a principal that lost anything it had", "[security]") {
  Principal p{"a", "k1", "acme", {"orders"}, {"orders"}, false};
  CHECK(p.StillCovers(&p));
  CHECK_FALSE(p.StillCovers(nullptr));
  for (auto change : std::vector<std::function<void(Principal&)>>{
           [](Principal& q) { q.disabled = true; },
           [](Principal& q) { q.public_key = "k2"; },
           [](Principal& q) { q.tenant = "other"; },
           [](Principal& q) { q.read.clear(); },
           [](Principal& q) { q.write.push_back("x"); },
       }) {
    Principal q = p;
    change(q);
    CHECK_FALSE(p.StillCovers(&q));
  }
  Principal disabled = p;
  disabled.disabled = true;
  CHECK(disabled.StillCovers(nullptr));  // nothing was admitted under it
}

}  // namespace cqrs::security
