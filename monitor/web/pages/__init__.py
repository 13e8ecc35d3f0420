"""The console's pages, one module each: sign-in, overview, quarantine, mailboxes, senders, reports, audit."""
