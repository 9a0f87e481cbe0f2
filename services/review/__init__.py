"""The duplicate review queue (名寄せ): the matcher over a tenant's projected customers, the
suggestions it keeps, and a person's decision on each (accept merges, reject keeps apart)."""
