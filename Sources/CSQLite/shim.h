#include <sqlite3.h>

/// Turns off SQLite's memory statistics, process-wide. With them on (the default), every allocation SQLite makes
/// takes one global mutex, which the broker thread's reads and the commit thread's writes then contend for: 16,000
/// futex calls a second at 9,000 joins/s. sqlite3_config is variadic, so Swift cannot call it; this can. It must
/// run before SQLite initializes (the first open): later it returns SQLITE_MISUSE and changes nothing.
static inline int chorus_sqlite3_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
