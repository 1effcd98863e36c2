import CZeroMQ

/// Socket option numbers, so code outside this module never needs the C header.
public enum ZMQOption {
    public static let sendHighWaterMark = ZMQ_SNDHWM
    public static let receiveHighWaterMark = ZMQ_RCVHWM
    public static let receiveBuffer = ZMQ_RCVBUF
    public static let linger = ZMQ_LINGER
    public static let routingID = ZMQ_ROUTING_ID
    public static let routerMandatory = ZMQ_ROUTER_MANDATORY
    public static let subscribe = ZMQ_SUBSCRIBE
    public static let maxMessageSize = ZMQ_MAXMSGSIZE
    public static let reconnectInterval = ZMQ_RECONNECT_IVL
    public static let reconnectIntervalMax = ZMQ_RECONNECT_IVL_MAX
    public static let immediate = ZMQ_IMMEDIATE
    public static let xpubVerbose = ZMQ_XPUB_VERBOSE
    /// `ZMQ_ROUTER_NOTIFY` (a draft option, 97): a ROUTER gets an empty message from a peer that connects or
    /// disconnects. Setting it fails on a libzmq built without draft APIs; callers treat that as optional.
    public static let routerNotify: Int32 = 97
    /// Values for `routerNotify`.
    public static let notifyConnect: Int32 = 1
    public static let notifyDisconnect: Int32 = 2
}
