"""Writing migrations: `orm-models revision` (see `orm_models.authoring.revision`)."""
