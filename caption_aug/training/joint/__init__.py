"""Stage 4, the joint phase: the iteration (`step`) over the four models as loss closures
(`problem`), the hypergradient of A and B (`hypergradient`, applied by `architect`), the LM's
synthetic captions (`caption_sampler`), the phase's loop (`trainer`), its real-only control arm
(`control`) and `--mode=synthesize`."""
