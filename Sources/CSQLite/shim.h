#include <sqlite3.h>

/// Turns off SQLite's memory statistics, process-wide. With them on (the default), every allocation SQLite makes
/// takes one global mutex, which the broker thread's reads and the commit thread's writes then contend for: 16,000
/// futex calls a second at 9,000 joins/s. sqlite3_config is variadic, so Swift cannot call it; this can. It must
/// run before SQLite initializes (the first open): later it returns SQLITE_MISUSE and changes nothing.
static inline int chorus_sqlite3_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/// Syncs the database file and its WAL through this connection's own file handles (xSync of the VFS), never
/// through a descriptor opened beside them: closing any descriptor of a file drops every POSIX lock the process
/// holds on it, SQLite's included, and another process could then delete a WAL that is still in use.
/// Returns the first error, or SQLITE_OK.
static inline int chorus_sqlite3_sync_files(sqlite3 *db) {
    int result = SQLITE_OK;
    const int ops[2] = {SQLITE_FCNTL_JOURNAL_POINTER, SQLITE_FCNTL_FILE_POINTER};
    for (int i = 0; i < 2; i++) {
        sqlite3_file *file = 0;
        int rc = sqlite3_file_control(db, "main", ops[i], &file);
        if (rc == SQLITE_OK && file != 0 && file->pMethods != 0) rc = file->pMethods->xSync(file, SQLITE_SYNC_NORMAL);
        if (result == SQLITE_OK && rc != SQLITE_OK) result = rc;
    }
    return result;
}
