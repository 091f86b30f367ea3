//! The PeerJS signaling protocol: message types and id rules shared by our PeerServer
//! (`server::peerserver`) and, later, our PeerJS client.

pub mod protocol;
