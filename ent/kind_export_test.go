package ent

// Fields returns a copy of v without its client binding and loaded edges.
func (v *KindAll) Fields() KindAll {
	c := *v
	c.config = config{}
	return c
}

// Fields returns a copy of v without its client binding.
func (v *KindOpt) Fields() KindOpt {
	c := *v
	c.config = config{}
	return c
}

// Fields returns a copy of v without its client binding.
func (v *KindBare) Fields() KindBare {
	c := *v
	c.config = config{}
	return c
}
