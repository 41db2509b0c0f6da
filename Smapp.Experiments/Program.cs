return Smapp.Experiments.Experiment.Run(args);
