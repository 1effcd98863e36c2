import ChorusProtocol
import ChorusStore
import Foundation
import Testing

/// Opening a file that is not a Chorus log must fail clearly and leave the file alone.
@Suite("SQLiteEventStore: foreign files")
final class ForeignFileTests {
    let dir: TemporaryDirectory

    init() throws { dir = try TemporaryDirectory() }

    @Test func sqliteFileWithOtherTablesIsRefused() throws {
        let path = dir.path("other.sqlite")
        do {
            let db = try SQLiteDatabase(path: path)
            try db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes(body) VALUES ('keep me');")
        }
        let error = #expect(throws: SQLiteError.self) { try openStore(path) }
        #expect(error?.message.contains("not a Chorus log") == true)
        #expect(error?.context.contains(path) == true)
        #expect(error?.description.contains("not a Chorus log") == true)

        // The file is untouched: no Chorus tables, the data still there.
        let db = try SQLiteDatabase(path: path, readOnly: true)
        #expect(try db.scalar("SELECT count(*) FROM notes") == 1)
        #expect(try db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'events'") == 0)
        #expect(try db.scalar("PRAGMA user_version") == 0)
    }

    @Test func newerSchemaVersionIsRefused() throws {
        let path = dir.path("newer.sqlite")
        do {
            let db = try SQLiteDatabase(path: path)
            try db.execute("PRAGMA user_version = \(SQLiteEventStore.schemaVersion + 1)")
        }
        let error = #expect(throws: SQLiteError.self) { try openStore(path) }
        #expect(error?.message.contains("newer") == true)
        #expect(error?.message.contains("upgrade chorus") == true)
    }

    @Test func fileThatIsNotSQLiteIsRefused() throws {
        let path = dir.path("garbage.sqlite")
        let garbage = Data(String(repeating: "this is not a database\n", count: 200).utf8)
        #expect(FileManager.default.createFile(atPath: path, contents: garbage))
        #expect(throws: SQLiteError.self) { try openStore(path) }
        #expect(FileManager.default.contents(atPath: path) == garbage)
    }

    @Test func emptySQLiteFileBecomesALog() throws {
        let path = dir.path("empty.sqlite")
        do { _ = try SQLiteDatabase(path: path) }
        let store = try openStore(path)
        try store.commit(batch(events: [event(1)]))
        #expect(try store.lastSequence() == 1)
    }

    @Test func missingDirectoryIsAnError() {
        let error = #expect(throws: SQLiteError.self) { try openStore(dir.path("no/such/dir/chorus.sqlite")) }
        #expect(error?.context.contains("no/such/dir") == true)
    }
}
