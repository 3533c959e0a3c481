-- A watch with a label selector or a business scope must know whether a modified object matched before the
-- change (to send DELETED when it leaves, ADDED when it enters): the object's previous event, found by name.
create index resource_events_by_name on resource_events (kind, name, resource_version);
