-- Each replica asks once a second which tenants changed since it last looked.
CREATE INDEX tenants_updated_at ON tenants (updated_at);
