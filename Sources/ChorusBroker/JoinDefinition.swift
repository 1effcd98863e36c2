import ChorusConfig
import ChorusProtocol

/// A join declared in the broker config (`[joins.NAME]`): which event opens it, which results are its parts,
/// when it is complete, how long it waits, and where the merged record goes.
public struct JoinDefinition: Sendable, Equatable {
    /// What to do when the overall deadline passes before the completion rule is met.
    public enum TimeoutPolicy: String, Sendable, CaseIterable {
        /// Emit a merged record with status `partial` naming the missing parts (the default).
        case partial
        /// Close without emitting anything.
        case discard
        /// Emit nothing on `emit`; dead-letter the record on `$dlq.join.NAME`.
        case deadletter
    }

    /// One named part.
    public struct Part: Sendable, Equatable {
        public var name: String
        /// Results on topics matching this pattern, with the join's correlation id, are this part.
        public var pattern: TopicPattern
        public var required: Bool
        /// Optional: the part is given up this long after the join opened.
        public var timeoutMilliseconds: Int64?
        /// Optional: the consumer group that works on the opening event; if that event is dead-lettered in this
        /// group, the part has failed for good.
        public var group: String?
    }

    public var name: String
    public var open: TopicPatternSet
    public var emit: String
    public var parts: [Part]
    /// k of n: complete when this many parts succeeded. Nil: complete when every required part succeeded.
    public var need: Int?
    public var timeoutMilliseconds: Int64
    public var onTimeout: TimeoutPolicy
    public var maxOpen: Int
    /// Text and JSON results up to this many bytes are embedded in the merged record; larger ones, and all of
    /// them at 0, are only named (`seq`, `size`, `blob`). At most `MergedRecord.maxEmbedLimit`.
    public var embedLimit: Int = MergedRecord.maxEmbedLimit

    /// The index of the first part, in name order, whose pattern matches `topic`: a result counts for that part.
    func partIndex(for topic: [UInt8]) -> Int? {
        parts.firstIndex { $0.pattern.matches(topic) }
    }

    static func parse(_ r: ConfigReader, name: String) throws(ConfigError) -> JoinDefinition {
        let key = "joins.\(name)"
        guard let openText = try r.string("\(key).open") else {
            throw ConfigError(file: r.file, key: "\(key).open", message: "a join needs the topic pattern that opens it")
        }
        guard let emit = try r.string("\(key).emit") else {
            throw ConfigError(file: r.file, key: "\(key).emit", message: "a join needs the topic its merged record is emitted on")
        }
        let open: TopicPatternSet
        do { open = try TopicPatternSet(texts: [openText]) } catch {
            throw ConfigError(file: r.file, key: "\(key).open", message: error.message)
        }
        do { try Topic.validate(Array(emit.utf8)) } catch {
            throw ConfigError(file: r.file, key: "\(key).emit", message: error.message)
        }
        var parts: [Part] = []
        for partName in try r.tableKeys("\(key).parts").sorted() {
            let pk = "\(key).parts.\(partName)"
            guard let topic = try r.string("\(pk).topic") else {
                throw ConfigError(file: r.file, key: "\(pk).topic", message: "a part needs the topic pattern of its results")
            }
            let pattern: TopicPattern
            do { pattern = try TopicPattern(topic) } catch {
                throw ConfigError(file: r.file, key: "\(pk).topic", message: error.message)
            }
            parts.append(
                Part(
                    name: partName, pattern: pattern, required: try r.bool("\(pk).required") ?? true,
                    timeoutMilliseconds: try r.milliseconds("\(pk).timeout"), group: try r.string("\(pk).group")))
        }
        guard !parts.isEmpty else {
            throw ConfigError(file: r.file, key: "\(key).parts", message: "a join needs at least one part ([\(key).parts.NAME])")
        }
        let need = try r.int("\(key).need", range: 1...parts.count)
        if need == nil && !parts.contains(where: \.required) {
            throw ConfigError(file: r.file, key: "\(key).need", message: "every part is optional: say how many parts complete the join")
        }
        let policy = try r.choice("\(key).on_timeout", TimeoutPolicy.allCases.map(\.rawValue)) ?? "partial"
        return JoinDefinition(
            name: name, open: open, emit: emit, parts: parts, need: need,
            timeoutMilliseconds: try r.milliseconds("\(key).timeout") ?? 60_000, onTimeout: TimeoutPolicy(rawValue: policy)!,
            maxOpen: try r.int("\(key).max_open", range: 1...10_000_000) ?? 100_000,
            embedLimit: try r.int("\(key).embed_limit", range: 0...MergedRecord.maxEmbedLimit) ?? MergedRecord.maxEmbedLimit)
    }
}
