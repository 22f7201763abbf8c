"""OpenNebula side: the only XML-RPC gateway, template text, records and state tables."""
