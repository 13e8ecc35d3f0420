"""The demo: a local Postfix + Dovecot with mailmon in the flow, a day of sample mail, a summary."""
