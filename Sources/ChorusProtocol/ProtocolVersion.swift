/// Constants that identify the Chorus wire protocol (docs/PROTOCOL.md, section "Framing").
public enum ProtocolVersion {
    /// Frame 0 of every command in version 1: the ASCII bytes `CHORUS1`.
    public static let signature: [UInt8] = Array("CHORUS1".utf8)
    /// The protocol version number carried by the signature.
    public static let current = 1
}
