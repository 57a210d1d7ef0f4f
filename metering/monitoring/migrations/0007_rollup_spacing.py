from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0006_rollup_meter_index_in_unique'),
    ]

    operations = [
        migrations.AddField(
            model_name='rollup',
            name='spacing',
            field=models.FloatField(blank=True, null=True, verbose_name='读数典型间隔（秒）'),
        ),
    ]
