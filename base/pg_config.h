// Reading and checking [postgresql] and its [[postgresql.tables]]: for base/config.cc only.
#pragma once

#include <toml.hpp>

#include "base/config.h"
#include "base/status.h"

namespace cqrs {

Status ReadPostgres(const toml::value& table, PostgresConfig* out);
Status ValidatePostgres(const PostgresConfig& pg);

}  // namespace cqrs
