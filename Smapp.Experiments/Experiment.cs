namespace Smapp.Experiments;
public static class Experiment { public static int Run(string[] args) => 0; }
