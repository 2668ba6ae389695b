// SQLite: a connection (Db), prepared statements (Stmt) and write transactions (Transaction),
// returning Result. Constraint violations are kConflict, a full disk kNoSpace, a busy database
// kUnavailable; messages carry SQLite's text and the statement. A Db and its statements belong
// to one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace core::sqlite {

class Stmt;

class Db {
 public:
  // Opens (creating) a database file; "" or ":memory:" for a private in-memory one.
  static Result<Db> open(const std::string& path);
  Db(Db&&) noexcept = default;
  Db& operator=(Db&&) noexcept = default;
  ~Db();

  // Runs one or more statements without results (DDL, PRAGMAs).
  Result<void> exec(std::string_view sql);
  Result<Stmt> prepare(std::string_view sql);
  int64_t last_insert_id() const;
  int changes() const;
  sqlite3* handle() const { return db_.get(); }

 private:
  struct Close {
    void operator()(sqlite3* db) const;
  };
  explicit Db(sqlite3* db) : db_(db) {}
  std::unique_ptr<sqlite3, Close> db_;
};

class Stmt {
 public:
  Stmt(Stmt&&) noexcept = default;
  Stmt& operator=(Stmt&&) noexcept = default;
  ~Stmt();

  // Binds by 1-based index; text and blobs are copied.
  Stmt& bind(int index, int64_t value);
  Stmt& bind(int index, std::string_view text);
  Stmt& bind_blob(int index, std::string_view bytes);
  Stmt& bind_null(int index);
  // Advances: true with a row, false when done.
  Result<bool> step();
  // Runs a statement without results to completion.
  Result<void> run();
  // Resets for another execution (bindings kept until rebound).
  void reset();

  int64_t column_int(int index) const;
  std::string column_text(int index) const;  // blobs as bytes; NULL as ""
  bool column_null(int index) const;

 private:
  friend class Db;
  Stmt(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  struct Finalize {
    void operator()(sqlite3_stmt* s) const;
  };
  std::unique_ptr<sqlite3_stmt, Finalize> stmt_;
  sqlite3* db_;
};

// BEGIN IMMEDIATE on construction (through begin()); rolls back when destroyed uncommitted.
class Transaction {
 public:
  static Result<Transaction> begin(Db& db);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Result<void> commit();

 private:
  explicit Transaction(Db* db) : db_(db) {}
  Db* db_;
};

}  // namespace core::sqlite
