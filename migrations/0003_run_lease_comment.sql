COMMENT ON TABLE sync_lease IS 'provet-sync bookkeeping: the run allowed to write (a fencing token against stale processes).';
