//! Inspection: the MIME walk of a message bound for a protected mailbox. (Lands with issue 4.)
