//! The inbound ESMTP side.
