/// A failure told by its message alone (the benchmark's checks, `chorus up` when a child cannot start); not
/// ArgumentParser's `ValidationError`, which is about the command line.
struct ValidationFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
