"""Documents -> marked word pieces (:mod:`.markers`) -> padded encoder windows in batches (:mod:`.windows`)."""
