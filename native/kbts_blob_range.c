/*
 * A loadable SQLite extension with one function:
 *
 *   kbts_blob_range(table, column, rowid, offset, length)
 *
 * gives `length` bytes of one BLOB from `offset` (counted from 0), fewer at its end, read with
 * SQLite's incremental BLOB I/O: only the pages of the range are read. substr() of a BLOB loads
 * the whole value first, so posting a 100 MB video in 2 MB segments had SQLite hold 100 MB for
 * each of them. better-sqlite3 has no incremental BLOB I/O of its own (WiseLibs/better-sqlite3
 * issue 600); an extension is handed the connection and can use it.
 *
 * Built by scripts/build-sqlite-extension.js at `npm install`, against the sqlite3ext.h that
 * better-sqlite3 ships with its SQLite. Registered SQLITE_DIRECTONLY: a view or trigger in a
 * KB's schema cannot call it.
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

static void blob_range(sqlite3_context *context, int argc, sqlite3_value **argv) {
  (void)argc;
  const char *table = (const char *)sqlite3_value_text(argv[0]);
  const char *column = (const char *)sqlite3_value_text(argv[1]);
  int i;
  for (i = 2; i < 5; i++) {
    if (sqlite3_value_type(argv[i]) != SQLITE_INTEGER) {
      sqlite3_result_error(context, "kbts_blob_range: the rowid, offset and length are integers", -1);
      return;
    }
  }
  if (table == 0 || column == 0) {
    sqlite3_result_error(context, "kbts_blob_range: the table and column are names", -1);
    return;
  }
  sqlite3_int64 rowid = sqlite3_value_int64(argv[2]);
  sqlite3_int64 offset = sqlite3_value_int64(argv[3]);
  sqlite3_int64 length = sqlite3_value_int64(argv[4]);
  if (offset < 0 || length < 0) {
    sqlite3_result_error(context, "kbts_blob_range: the offset and length are 0 or more", -1);
    return;
  }

  sqlite3 *db = sqlite3_context_db_handle(context);
  sqlite3_blob *blob = 0;
  if (sqlite3_blob_open(db, "main", table, column, rowid, 0, &blob) != SQLITE_OK) {
    sqlite3_result_error(context, sqlite3_errmsg(db), -1);
    sqlite3_blob_close(blob); /* a no-op on the null handle a failed open leaves */
    return;
  }
  /* A BLOB is at most 2^31 - 1 bytes, so the clamped range fits an int. */
  sqlite3_int64 size = sqlite3_blob_bytes(blob);
  sqlite3_int64 start = offset < size ? offset : size;
  sqlite3_int64 count = length < size - start ? length : size - start;
  void *bytes = sqlite3_malloc64(count > 0 ? (sqlite3_uint64)count : 1);
  if (bytes == 0) {
    sqlite3_blob_close(blob);
    sqlite3_result_error_nomem(context);
    return;
  }
  if (count > 0 && sqlite3_blob_read(blob, bytes, (int)count, (int)start) != SQLITE_OK) {
    sqlite3_result_error(context, sqlite3_errmsg(db), -1);
    sqlite3_free(bytes);
    sqlite3_blob_close(blob);
    return;
  }
  sqlite3_blob_close(blob);
  sqlite3_result_blob64(context, bytes, (sqlite3_uint64)count, sqlite3_free);
}

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_kbtsblobrange_init(sqlite3 *db, char **error, const sqlite3_api_routines *api) {
  SQLITE_EXTENSION_INIT2(api);
  (void)error;
  return sqlite3_create_function_v2(db, "kbts_blob_range", 5, SQLITE_UTF8 | SQLITE_DIRECTONLY, 0, blob_range, 0, 0, 0);
}
