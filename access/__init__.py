"""Who may do what: broker logins and ACL, API tokens, data-sharing grants, the local TLS CA."""
