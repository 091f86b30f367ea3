//! The PeerJS signaling protocol: message types and id rules shared by our PeerServer
//! (`server::peerserver`) and our PeerJS client (`client`).

pub mod client;
pub mod protocol;
