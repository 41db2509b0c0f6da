return Smapp.Experiments.Experiment.Main(args);
