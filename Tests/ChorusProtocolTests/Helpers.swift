import ChorusProtocol

/// The UTF-8 bytes of a string, for building frames.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Frames from strings.
func frames(_ texts: String...) -> [[UInt8]] { texts.map(bytes) }
