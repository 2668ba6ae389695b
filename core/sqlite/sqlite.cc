#include "core/sqlite/sqlite.h"

#include <sqlite3.h>

namespace core::sqlite {
namespace {

Errc code_for(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      return Errc::kConflict;
    case SQLITE_FULL:
      return Errc::kNoSpace;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Errc::kUnavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Errc::kIntegrity;
    case SQLITE_TOOBIG:
      return Errc::kTooLarge;
    default:
      return Errc::kIo;
  }
}

std::unexpected<Error> fail_sqlite(sqlite3* db, int rc, std::string_view what) {
  const char* msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return fail(code_for(rc), fmt::format("sqlite: {}: {}", what, msg));
}

}  // namespace

void Db::Close::operator()(sqlite3* db) const { sqlite3_close_v2(db); }
void Stmt::Finalize::operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }

Db::~Db() = default;

Result<Db> Db::open(const std::string& path) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.empty() ? ":memory:" : path.c_str(), &raw, flags, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) return fail_sqlite(raw, rc, "open " + path);
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

Result<void> Db::exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return fail(code_for(rc), fmt::format("sqlite: {}: {}", text.substr(0, 60), msg));
  }
  return {};
}

Result<Stmt> Db::prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK)
    return fail_sqlite(db_.get(), rc, "prepare " + std::string(sql.substr(0, 60)));
  return Stmt(s, db_.get());
}

int64_t Db::last_insert_id() const { return sqlite3_last_insert_rowid(db_.get()); }
int Db::changes() const { return sqlite3_changes(db_.get()); }

Stmt::~Stmt() = default;

Stmt& Stmt::bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_.get(), index, value);
  return *this;
}
Stmt& Stmt::bind(int index, std::string_view text) {
  sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}
Stmt& Stmt::bind_blob(int index, std::string_view bytes) {
  sqlite3_bind_blob64(stmt_.get(), index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind_null(int index) {
  sqlite3_bind_null(stmt_.get(), index);
  return *this;
}

Result<bool> Stmt::step() {
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return fail_sqlite(db_, rc, sqlite3_sql(stmt_.get()));
}

Result<void> Stmt::run() {
  while (K3A_TRY(step())) {
  }
  reset();
  return {};
}

void Stmt::reset() { sqlite3_reset(stmt_.get()); }

int64_t Stmt::column_int(int index) const { return sqlite3_column_int64(stmt_.get(), index); }
bool Stmt::column_null(int index) const {
  return sqlite3_column_type(stmt_.get(), index) == SQLITE_NULL;
}
std::string Stmt::column_text(int index) const {
  const void* p = sqlite3_column_blob(stmt_.get(), index);
  int n = sqlite3_column_bytes(stmt_.get(), index);
  return p ? std::string(static_cast<const char*>(p), n) : std::string();
}

Result<Transaction> Transaction::begin(Db& db) {
  K3A_CHECK(db.exec("BEGIN IMMEDIATE"));
  return Transaction(&db);
}

Transaction::~Transaction() {
  if (db_) (void)db_->exec("ROLLBACK");
}

Result<void> Transaction::commit() {
  Db* db = db_;
  db_ = nullptr;
  auto r = db->exec("COMMIT");
  if (!r) (void)db->exec("ROLLBACK");
  return r;
}

}  // namespace core::sqlite
